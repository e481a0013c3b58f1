// Node's `openai` package in a covered pod, configured only by what ModelRoute's webhook injected:
// prints which settings it found (names only), where each client sends its requests and what the
// endpoint answered.
"use strict";
const { OpenAI, AzureOpenAI } = require("openai");

async function main() {
  const names = Object.keys(process.env).filter((k) => k.includes("OPENAI") || k.includes("AZURE")).sort();
  console.log("node injected:", names.join(" ") || "nothing");
  const messages = [{ role: "user", content: "hi" }];
  const client = new OpenAI({ timeout: 20000, maxRetries: 0 });
  console.log("node OpenAI() baseURL:", client.baseURL);
  let answer = await client.chat.completions.create({ model: "gpt-4o", messages });
  console.log("node OpenAI() answer:", answer.choices[0].message.content);
  if (process.env.AZURE_OPENAI_ENDPOINT) {
    const azure = new AzureOpenAI({ timeout: 20000, maxRetries: 0 });
    console.log("node AzureOpenAI() baseURL:", azure.baseURL);
    answer = await azure.chat.completions.create({ model: "gpt-4o", messages });
    console.log("node AzureOpenAI() answer:", answer.choices[0].message.content);
  }
  console.log("NODE-SDK-DONE");
}

main().catch((err) => {
  console.error("node SDK failed:", err.message);
  process.exit(1);
});
