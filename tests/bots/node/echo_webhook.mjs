// An echo bot with an inline keyboard, written for Telegram with grammY and run unchanged
// against chapar over a webhook: only `apiRoot` differs.
//
//   CHAPAR_BOT_API=http://127.0.0.1:8080 CHAPAR_BOT_TOKEN=<id>:<secret> node echo_webhook.mjs
//
// It listens on a free port of 127.0.0.1, sets its webhook there (with a secret token that
// grammY checks on every update), prints "ready", and then echoes every text under a "Shout"
// button; pressing the button answers the callback query and edits the message to upper case.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { Bot, InlineKeyboard, webhookCallback } from "grammy";

const apiRoot = process.env.CHAPAR_BOT_API.replace(/\/$/, "");
const bot = new Bot(process.env.CHAPAR_BOT_TOKEN, { client: { apiRoot } });
const keyboard = new InlineKeyboard().text("Shout", "shout");

bot.command("start", (ctx) => ctx.reply("Hi! Send me any text and I will echo it.", { reply_markup: keyboard }));
bot.on("message:text", (ctx) => ctx.reply(ctx.message.text, { reply_markup: keyboard }));
bot.callbackQuery("shout", async (ctx) => {
  await ctx.answerCallbackQuery({ text: "Shouted!" });
  await ctx.editMessageText(ctx.callbackQuery.message.text.toUpperCase());
});
bot.catch((err) => console.error("bot error:", err.error));

const secretToken = randomBytes(16).toString("hex");
await bot.init();
const server = http.createServer(webhookCallback(bot, "http", { secretToken }));
server.listen(0, "127.0.0.1", async () => {
  const { port } = server.address();
  await bot.api.setWebhook(`http://127.0.0.1:${port}/webhook`, { secret_token: secretToken });
  const info = await bot.api.getWebhookInfo();
  console.log(`ready @${bot.botInfo.username} ${info.url}`);
});
