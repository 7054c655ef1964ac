"""keevx-bot: photos in, AI videos out, in Telegram and Discord chats."""
