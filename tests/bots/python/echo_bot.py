"""An echo bot with an inline keyboard, written for Telegram with python-telegram-bot and run
unchanged against chapar: only the base URL differs.

    CHAPAR_BOT_API=http://127.0.0.1:8080 CHAPAR_BOT_TOKEN=<id>:<secret> python echo_bot.py

It echoes every text under a "Shout" button; pressing the button answers the callback query
("Shouted!") and edits the message to upper case. It prints "ready" once it has polled.
"""

import logging
import os
import sys

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

API = os.environ["CHAPAR_BOT_API"].rstrip("/")
TOKEN = os.environ["CHAPAR_BOT_TOKEN"]

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Shout", callback_data="shout")]])


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(
        "Hi! Send me any text and I will echo it.", reply_markup=KEYBOARD
    )


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text, reply_markup=KEYBOARD)


async def shout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer("Shouted!")
    await query.edit_message_text(query.message.text.upper())


async def announce(app: Application) -> None:
    me = await app.bot.get_me()
    print(f"ready @{me.username}", flush=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{API}/bot")
        .base_file_url(f"{API}/file/bot")
        .post_init(announce)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(shout, pattern="^shout$"))
    app.run_polling(timeout=5, poll_interval=0.0)


if __name__ == "__main__":
    main()
