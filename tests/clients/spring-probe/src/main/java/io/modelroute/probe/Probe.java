package io.modelroute.probe;

import java.lang.reflect.Field;
import java.lang.reflect.Method;

import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.ai.openai.api.OpenAiApi;
import org.springframework.boot.Banner;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * Starts the application context as any Spring AI application starts it (config data from the working
 * directory, configtree imports, the environment) and prints the base URL and path the OpenAI chat
 * model it built will send its requests to, read from that model's OpenAiApi.
 */
@SpringBootApplication
public class Probe {

    public static void main(String[] args) throws Exception {
        try (ConfigurableApplicationContext context = new SpringApplicationBuilder(Probe.class)
                .web(WebApplicationType.NONE)
                .bannerMode(Banner.Mode.OFF)
                .logStartupInfo(false)
                .lazyInitialization(true) // only the chat model is built; what it binds is the same
                .run(args)) {
            OpenAiChatModel model = context.getBean(OpenAiChatModel.class);
            Field field = OpenAiChatModel.class.getDeclaredField("openAiApi");
            field.setAccessible(true);
            OpenAiApi api = (OpenAiApi) field.get(model);
            System.out.println("{\"chatBaseUrl\": \"" + call(api, "getBaseUrl") + "\", \"chatCompletionsPath\": \""
                    + call(api, "getCompletionsPath") + "\"}");
        }
    }

    private static String call(OpenAiApi api, String getter) throws Exception {
        Method method = OpenAiApi.class.getDeclaredMethod(getter);
        method.setAccessible(true);
        return String.valueOf(method.invoke(api)).replace("\\", "\\\\").replace("\"", "\\\"");
    }
}
