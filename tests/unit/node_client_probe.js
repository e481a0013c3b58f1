// Prints, as JSON, the URL each Node client would call given the process environment:
// openai (OpenAI, AzureOpenAI), @ai-sdk/openai and @ai-sdk/azure. No request leaves the process:
// each client's fetch is replaced by one that records the URL and fails.
const { OpenAI, AzureOpenAI } = require("openai");
const { createOpenAI } = require("@ai-sdk/openai");
const { createAzure } = require("@ai-sdk/azure");

class Captured extends Error {}

function recorder(into, name) {
  return async (url) => {
    // fetch reads a string with the WHATWG parser before it connects: so does the record
    try {
      into[name] = new URL(String(url)).href;
    } catch (error) {
      into[name] = `error: fetch refuses ${JSON.stringify(String(url))}`;
    }
    throw new Captured(name);
  };
}

async function callSdk(client, name, into) {
  try {
    await client.models.list();
  } catch (error) {
    if (!(error instanceof Captured) && !(error?.cause instanceof Captured) && !(name in into)) {
      into[name] = `error: ${error?.message ?? error}`;
    }
  }
}

async function callAiSdk(model, name, into) {
  try {
    await model.doGenerate({ prompt: [{ role: "user", content: [{ type: "text", text: "hi" }] }] });
  } catch (error) {
    if (!(name in into)) into[name] = `error: ${error?.message ?? error}`;
  }
}

async function main() {
  const out = {};
  if (process.argv.includes("openai")) {
    await callSdk(new OpenAI({ fetch: recorder(out, "openai"), maxRetries: 0 }), "openai", out);
  }
  if (process.argv.includes("azure-openai")) {
    const client = new AzureOpenAI({ fetch: recorder(out, "azure-openai"), maxRetries: 0 });
    await callSdk(client, "azure-openai", out);
  }
  if (process.argv.includes("ai-sdk-openai")) {
    const provider = createOpenAI({ fetch: recorder(out, "ai-sdk-openai") });
    await callAiSdk(provider.chat("gpt-4o"), "ai-sdk-openai", out);
  }
  if (process.argv.includes("ai-sdk-azure")) {
    const provider = createAzure({ fetch: recorder(out, "ai-sdk-azure") });
    await callAiSdk(provider.chat("gpt-4o"), "ai-sdk-azure", out);
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main();
