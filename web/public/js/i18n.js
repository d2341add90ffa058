// The interface in English and Persian. Persian sets dir="rtl" on <html>: the stylesheet uses
// logical properties only (inline-start/end), so the whole layout mirrors. Message text is
// independent of the interface: every message sets its own direction (dir="auto").

export const STRINGS = {
  en: {
    appName: 'chapar',
    tagline: 'Messages that arrive, even when everyone arrives at once.',
    language: 'Language',
    tabSignUp: 'Create account',
    tabLink: 'Link this browser',
    handle: 'Handle',
    handleHint: '3–32 letters a–z, digits or _, starting with a letter',
    displayName: 'Your name',
    inviteCode: 'Invite code (only if this server asks for one)',
    signUp: 'Sign up',
    linkCode: 'Link code',
    linkHelp: 'On a device where you are signed in, open the menu and choose “Link a device”. Enter the code it shows.',
    link: 'Link',
    working: 'One moment…',
    insecure: 'This page needs a secure context: open it over HTTPS, or at localhost / 127.0.0.1.',
    'err.conflict': 'Could not do that: {message}',
    'err.forbidden': 'Not allowed: {message}',
    'err.invalid': 'Not valid: {message}',
    'err.not_found': 'Not found: {message}',
    'err.unauthorized': 'That did not work: {message}',
    'err.offline': 'You are offline. Try again once connected.',
    'err.too_large': 'That is too long.',
    'err.busy': 'The server is busy. Try again in a moment.',
    'err.other': 'Something went wrong: {message}',
    'conn.connecting': 'Connecting…',
    'conn.reconnecting': 'Connection lost. Reconnecting…',
    'conn.reconnectingIn': 'Connection lost. Reconnecting in {n} s…',
    'conn.offline': 'Offline. Waiting for the network…',
    'conn.syncing': 'Updating…',
    'conn.retry': 'Retry now',
    queued: '{n} waiting to send',
    chats: 'Chats',
    menu: 'Menu',
    newChat: 'New chat',
    newMessage: 'New message',
    newGroup: 'New group',
    noChats: 'No chats yet. Start one with the pencil button.',
    you: 'You',
    typing: 'typing…',
    isTyping: '{names} is typing…',
    areTyping: '{names} are typing…',
    unreadN: '{n} unread',
    deleted: 'Message deleted',
    attachment: 'Attachment',
    today: 'Today',
    yesterday: 'Yesterday',
    back: 'Back to chats',
    info: 'Conversation info',
    membersN: '{n} members',
    pickChat: 'Choose a chat, or start a new one.',
    message: 'Message',
    send: 'Send',
    replyTo: 'Reply to {name}',
    editing: 'Edit message',
    cancel: 'Cancel',
    edited: 'edited',
    'status.sending': 'Sending…',
    'status.sent': 'Sent',
    'status.delivered': 'Delivered',
    'status.read': 'Read',
    'status.failed': 'Not sent',
    actions: 'Message actions',
    reply: 'Reply',
    edit: 'Edit',
    delete: 'Delete',
    copy: 'Copy text',
    react: 'React with {emoji}',
    confirmDelete: 'Delete this message for everyone?',
    loadingOlder: 'Loading older messages…',
    start: 'The start of this conversation',
    leftNote: 'You are no longer a member of this group.',
    toBottom: 'Jump to the newest message',
    sayHello: 'Say hello to {name}.',
    messages: 'Messages',
    'sys.created': '{actor} created the group “{title}”',
    'sys.added': '{actor} added {handles}',
    'sys.removed': '{actor} removed {handles}',
    'sys.left': '{actor} left',
    'sys.renamed': '{actor} renamed the group to “{title}”',
    'sys.role_changed': '{actor} made {handles} {role}',
    'sys.other': '{actor}: {action}',
    'sysYou.created': 'You created the group “{title}”',
    'sysYou.added': 'You added {handles}',
    'sysYou.removed': 'You removed {handles}',
    'sysYou.left': 'You left',
    'sysYou.renamed': 'You renamed the group to “{title}”',
    'sysYou.role_changed': 'You made {handles} {role}',
    'sysYou.invited': 'You invited {handles}',
    'sysYou.joined': 'You joined',
    'sys.pinned': '{actor} pinned a message',
    'sys.unpinned': '{actor} unpinned a message',
    'sysYou.pinned': 'You pinned a message',
    'sysYou.unpinned': 'You unpinned a message',
    forward: 'Forward',
    forwardTo: 'Forward to…',
    forwardedFrom: 'Forwarded from {name}',
    forwarded: 'Forwarded to {title}',
    pin: 'Pin',
    unpin: 'Unpin',
    pinnedMessage: 'Pinned message',
    botLabel: 'bot',
    serviceLabel: 'service',
    startBot: 'Start',
    botCommands: 'The bot’s commands',
    archive: 'Archive',
    unarchive: 'Take out of the archive',
    archivedToast: 'Archived',
    unarchivedToast: 'Back in your chats',
    archivedN: 'Archived chats ({n})',
    backToChats: '← All chats',
    deleteChat: 'Delete chat',
    deleteForMe: 'Delete for me',
    confirmDeleteForMe: 'Delete this message for you? The others keep it.',
    confirmDeleteChat: 'Delete this chat’s history for you? The others keep theirs.',
    youObject: 'you',
    removeFromList: 'Remove from the list',
    'role.owner': 'owner',
    'role.admin': 'admin',
    'role.member': 'member',
    newChatTitle: 'New message',
    newChatLabel: 'Name or handle of the person',
    start_: 'Start',
    noSuchUser: 'No one has the handle @{handle}.',
    groupName: 'Group name',
    groupMembers: 'Members (handles, separated by spaces)',
    create: 'Create',
    groupInfo: 'Group info',
    directInfo: 'Chat info',
    rename: 'Rename',
    save: 'Save',
    addMembers: 'Add members (handles)',
    add: 'Add',
    remove: 'Remove',
    leave: 'Leave group',
    confirmLeave: 'Leave “{title}”?',
    confirmRemove: 'Remove @{handle} from the group?',
    close: 'Close',
    ok: 'OK',
    signedInAs: 'Signed in as',
    tabRecover: 'Recover account',
    recover: 'Recover',
    recoverHelp: 'Lost your devices? Enter your handle and the recovery key you saved when you signed up.',
    recoveryCode: 'Recovery key',
    recoverRevokeOthers: 'Sign out all my other devices (a lost or stolen phone)',
    'recoveryCode.length': 'A recovery key has 56 letters and digits. Check that you typed all of it.',
    'recoveryCode.symbol': 'A recovery key has only letters and digits.',
    'recoveryCode.checksum': 'This recovery key has a typo. Check it against what you wrote down.',
    recoveryTitle: 'Your recovery key',
    recoveryIntroFirst: 'Welcome! Write down this recovery key or save it as a file. If you lose this device, it brings your account back.',
    recoveryIntro: 'Write down this new recovery key or save it as a file. Once you save it, your old key stops working.',
    recoveryWarning: 'It is shown only once. Anyone who has it can sign in as you: keep it private.',
    recoveryDownload: 'Save as a file',
    recoveryFileNote: 'Keep this file private. To get your account back, choose “Recover account” on the sign-in screen and enter the key.',
    recoverySaved: 'I’ve saved it',
    recoverySavedToast: 'Recovery key saved.',
    notNow: 'Not now',
    signOutLastWithKey: 'This is your only device. To sign in again you will need your recovery key. Sign out?',
    signOutLastNoKey: 'This is your only device and you have no recovery key. If you sign out, {handle} is lost for ever. Make a recovery key first.',
    signOutAnyway: 'Sign out anyway',
    makeRecoveryKey: 'Make a recovery key',
    newRecoveryKey: 'New recovery key',
    recoveryIsSet: 'Recovery key: saved',
    recoveryNotSet: 'No recovery key yet',
    bio: 'Bio',
    bioHint: 'A line about you',
    profileSaved: 'Profile saved.',
    linkDevice: 'Link a device',
    linkCodeShown: 'Enter this code on the new device within 10 minutes:',
    devices: 'Devices',
    thisDevice: 'this device',
    signedInUntil: 'Stays signed in until {when} unless used',
    activeNow: 'active now',
    unsentLabel: 'Draft: ',
    emoji: 'Emoji',
    newChatPlaceholder: 'A name or @handle',
    peopleFound: 'People found',
    privacyFindable: 'Who can find me by name',
    privacyFindableHint: 'Anyone who knows your exact handle can still start a chat, unless your other settings stop them.',
    newMessages: 'New messages',
    unmute: 'Unmute',
    'muteFor.hour': 'Mute for an hour',
    'muteFor.day': 'Mute for a day',
    'muteFor.week': 'Mute for a week',
    'muteFor.ever': 'Mute',
    unreadMutedN: '{n} unread (muted)',
    notifyInGroup: '{name} in {title}',
    notifyOffer: 'Get a notification when a message arrives while you are elsewhere?',
    notifyTurnOn: 'Turn on',
    soundSetting: 'Sound for new messages',
    searchChats: 'Search chats',
    noMatches: 'No chat matches “{q}”.',
    lastActive: 'last active {when}',
    online: 'online',
    foundMessages: 'Messages',
    noMessagesFound: 'No messages found.',
    lastSeen: 'last seen {when}',
    renameDevice: 'Rename',
    deviceName: 'Device name',
    revoked: 'revoked',
    revoke: 'Revoke',
    signOut: 'Sign out',
    confirmSignOut: 'Sign out of this browser? Messages stay on the server.',
    sendFailed: 'Could not send: {reason}',
    actionFailed: 'Could not do that: {reason}',
    botNoAnswer: 'The bot did not answer.',
    signedOutRevoked: 'This device was signed out.',
    'sys.invited': '{actor} invited {handles}',
    'sys.joined': '{actor} joined',
    chatActions: 'More actions',
    blockUser: 'Block {handle}',
    unblockUser: 'Unblock {handle}',
    block: 'Block',
    unblock: 'Unblock',
    confirmBlock: 'Block {handle}? They will not be able to message you, add you to groups or see your read receipts. You can unblock them later.',
    blockedToast: 'You blocked {handle}.',
    unblockedToast: 'You unblocked {handle}.',
    youBlocked: 'You blocked {handle}. Unblock them to send messages.',
    addContact: 'Add to contacts',
    removeContact: 'Remove from contacts',
    contactAdded: '{handle} is now one of your contacts.',
    contactRemoved: '{handle} is no longer one of your contacts.',
    reportUser: 'Report {handle}',
    reportMessage: 'Report message',
    reportTitle: 'Report',
    reportWhy: 'Why are you reporting this?',
    reportAbout: 'Message from {name}:',
    reportAboutUser: 'Reporting {name} ({handle})',
    'reason.spam': 'Spam',
    'reason.abuse': 'Abuse: harassment, threats or hate',
    'reason.illegal': 'Illegal content',
    'reason.impersonation': 'Pretending to be someone else',
    'reason.other': 'Something else',
    reportComment: 'Details for the operators (optional)',
    reportSend: 'Send report',
    reportSentTitle: 'Report sent',
    reportSent: 'Thank you. Your report #{id} was sent to the operators of this server.',
    blockedMessage: 'Message from a blocked user',
    showIt: 'Show',
    privacy: 'Privacy and safety',
    privacyMessages: 'Who can start a chat with me',
    privacyGroups: 'Who can add me to groups',
    privacyGroupsHint: 'Anyone else can only invite you, and you decide whether to join.',
    privacyLastSeen: 'Who can see when I was last online',
    'aud.everybody': 'Everybody',
    'aud.contacts': 'My contacts',
    'aud.nobody': 'Nobody',
    saved: 'Saved.',
    blockedUsers: 'Blocked users',
    noBlocked: 'You have not blocked anyone.',
    contacts: 'Contacts',
    noContacts: 'No contacts yet.',
    addContactLabel: 'Add a contact (handle)',
    invitations: 'Invitations',
    invitesYou: '{who} invites you to “{title}”',
    accept: 'Accept',
    decline: 'Decline',
    acceptInvite: 'Accept the invitation to “{title}”',
    declineInvite: 'Decline the invitation to “{title}”',
    inviteGone: 'That invitation is no longer open.',
  },
  fa: {
    appName: 'چاپار',
    tagline: 'پیام‌هایی که می‌رسند، حتی وقتی همه با هم می‌آیند.',
    language: 'زبان',
    tabSignUp: 'ساخت حساب',
    tabLink: 'اتصال این مرورگر',
    handle: 'شناسه',
    handleHint: '۳ تا ۳۲ حرف لاتین a تا z، رقم یا _، که با یک حرف شروع شود',
    displayName: 'نام شما',
    inviteCode: 'کد دعوت (فقط اگر این سرور بخواهد)',
    signUp: 'ثبت‌نام',
    linkCode: 'کد اتصال',
    linkHelp: 'در دستگاهی که با آن وارد شده‌اید، منو را باز کنید و «اتصال دستگاه» را بزنید. کدی را که نشان می‌دهد اینجا وارد کنید.',
    link: 'اتصال',
    working: 'لحظه‌ای صبر کنید…',
    insecure: 'این صفحه به بستر امن نیاز دارد: آن را با HTTPS یا در localhost / 127.0.0.1 باز کنید.',
    'err.conflict': 'انجام نشد: {message}',
    'err.forbidden': 'اجازه ندارید: {message}',
    'err.invalid': 'نامعتبر: {message}',
    'err.not_found': 'پیدا نشد: {message}',
    'err.unauthorized': 'انجام نشد: {message}',
    'err.offline': 'آفلاین هستید. پس از اتصال دوباره تلاش کنید.',
    'err.too_large': 'بیش از حد طولانی است.',
    'err.busy': 'سرور شلوغ است. کمی بعد دوباره تلاش کنید.',
    'err.other': 'مشکلی پیش آمد: {message}',
    'conn.connecting': 'در حال اتصال…',
    'conn.reconnecting': 'اتصال قطع شد. در حال اتصال دوباره…',
    'conn.reconnectingIn': 'اتصال قطع شد. اتصال دوباره تا {n} ثانیهٔ دیگر…',
    'conn.offline': 'آفلاین. در انتظار شبکه…',
    'conn.syncing': 'در حال به‌روزرسانی…',
    'conn.retry': 'همین حالا',
    queued: '{n} پیام در صف ارسال',
    chats: 'گفتگوها',
    menu: 'منو',
    newChat: 'گفتگوی تازه',
    newMessage: 'پیام تازه',
    newGroup: 'گروه تازه',
    noChats: 'هنوز گفتگویی ندارید. با دکمهٔ مداد یکی را شروع کنید.',
    you: 'شما',
    typing: 'در حال نوشتن…',
    isTyping: '{names} در حال نوشتن است…',
    areTyping: '{names} در حال نوشتن هستند…',
    unreadN: '{n} خوانده‌نشده',
    deleted: 'پیام حذف شد',
    attachment: 'پیوست',
    today: 'امروز',
    yesterday: 'دیروز',
    back: 'بازگشت به گفتگوها',
    info: 'اطلاعات گفتگو',
    membersN: '{n} عضو',
    pickChat: 'یک گفتگو را انتخاب کنید، یا گفتگوی تازه‌ای شروع کنید.',
    message: 'پیام',
    send: 'ارسال',
    replyTo: 'پاسخ به {name}',
    editing: 'ویرایش پیام',
    cancel: 'انصراف',
    edited: 'ویرایش‌شده',
    'status.sending': 'در حال ارسال…',
    'status.sent': 'ارسال شد',
    'status.delivered': 'رسید',
    'status.read': 'خوانده شد',
    'status.failed': 'ارسال نشد',
    actions: 'کارهای پیام',
    reply: 'پاسخ',
    edit: 'ویرایش',
    delete: 'حذف',
    copy: 'رونوشت متن',
    react: 'واکنش با {emoji}',
    confirmDelete: 'این پیام برای همه حذف شود؟',
    loadingOlder: 'در حال بارگیری پیام‌های قدیمی‌تر…',
    start: 'آغاز این گفتگو',
    leftNote: 'شما دیگر عضو این گروه نیستید.',
    toBottom: 'رفتن به تازه‌ترین پیام',
    sayHello: 'به {name} سلام کنید.',
    messages: 'پیام‌ها',
    'sys.created': '{actor} گروه «{title}» را ساخت',
    'sys.added': '{actor} {handles} را به گروه افزود',
    'sys.removed': '{actor} {handles} را از گروه حذف کرد',
    'sys.left': '{actor} گروه را ترک کرد',
    'sys.renamed': '{actor} نام گروه را به «{title}» تغییر داد',
    'sys.role_changed': '{actor} نقش {handles} را {role} کرد',
    'sys.other': '{actor}: {action}',
    'sysYou.created': 'شما گروه «{title}» را ساختید',
    'sysYou.added': 'شما {handles} را به گروه افزودید',
    'sysYou.removed': 'شما {handles} را از گروه حذف کردید',
    'sysYou.left': 'شما گروه را ترک کردید',
    'sysYou.renamed': 'شما نام گروه را به «{title}» تغییر دادید',
    'sysYou.role_changed': 'شما نقش {handles} را {role} کردید',
    'sysYou.invited': 'شما {handles} را دعوت کردید',
    'sysYou.joined': 'شما به گروه پیوستید',
    'sys.pinned': '{actor} پیامی را سنجاق کرد',
    'sys.unpinned': '{actor} سنجاق پیامی را برداشت',
    'sysYou.pinned': 'شما پیامی را سنجاق کردید',
    'sysYou.unpinned': 'شما سنجاق پیامی را برداشتید',
    forward: 'هدایت',
    forwardTo: 'هدایت به…',
    forwardedFrom: 'هدایت‌شده از {name}',
    forwarded: 'به {title} هدایت شد',
    pin: 'سنجاق',
    unpin: 'برداشتن سنجاق',
    pinnedMessage: 'پیام سنجاق‌شده',
    botLabel: 'ربات',
    serviceLabel: 'سرویس',
    startBot: 'شروع',
    botCommands: 'فرمان‌های ربات',
    archive: 'بایگانی',
    unarchive: 'خارج کردن از بایگانی',
    archivedToast: 'بایگانی شد',
    unarchivedToast: 'به گفتگوها برگشت',
    archivedN: 'گفتگوهای بایگانی‌شده ({n})',
    backToChats: '→ همهٔ گفتگوها',
    deleteChat: 'حذف گفتگو',
    deleteForMe: 'حذف برای من',
    confirmDeleteForMe: 'این پیام برای شما حذف شود؟ دیگران آن را نگه می‌دارند.',
    confirmDeleteChat: 'تاریخچهٔ این گفتگو برای شما حذف شود؟ دیگران تاریخچهٔ خود را نگه می‌دارند.',
    youObject: 'شما',
    removeFromList: 'حذف از فهرست',
    'role.owner': 'مالک',
    'role.admin': 'مدیر',
    'role.member': 'عضو',
    newChatTitle: 'پیام تازه',
    newChatLabel: 'نام یا شناسهٔ مخاطب',
    start_: 'شروع',
    noSuchUser: 'کسی با شناسهٔ @{handle} وجود ندارد.',
    groupName: 'نام گروه',
    groupMembers: 'اعضا (شناسه‌ها، جداشده با فاصله)',
    create: 'ساختن',
    groupInfo: 'اطلاعات گروه',
    directInfo: 'اطلاعات گفتگو',
    rename: 'تغییر نام',
    save: 'ذخیره',
    addMembers: 'افزودن اعضا (شناسه‌ها)',
    add: 'افزودن',
    remove: 'حذف',
    leave: 'ترک گروه',
    confirmLeave: 'از «{title}» خارج می‌شوید؟',
    confirmRemove: '@{handle} از گروه حذف شود؟',
    close: 'بستن',
    ok: 'تأیید',
    signedInAs: 'وارد شده با',
    tabRecover: 'بازیابی حساب',
    recover: 'بازیابی',
    recoverHelp: 'دستگاه‌هایتان را از دست داده‌اید؟ شناسه و کلید بازیابی‌ای را که هنگام ثبت‌نام ذخیره کردید وارد کنید.',
    recoveryCode: 'کلید بازیابی',
    recoverRevokeOthers: 'از همهٔ دستگاه‌های دیگرم خارج شو (گوشی گم‌شده یا دزدیده‌شده)',
    'recoveryCode.length': 'کلید بازیابی ۵۶ حرف و رقم دارد. ببینید همه‌اش را وارد کرده‌اید.',
    'recoveryCode.symbol': 'کلید بازیابی فقط حرف و رقم دارد.',
    'recoveryCode.checksum': 'این کلید بازیابی غلط تایپی دارد. آن را با آنچه یادداشت کرده‌اید مقایسه کنید.',
    recoveryTitle: 'کلید بازیابی شما',
    recoveryIntroFirst: 'خوش آمدید! این کلید بازیابی را یادداشت کنید یا در یک فایل ذخیره کنید. اگر این دستگاه را از دست بدهید، حسابتان را با آن پس می‌گیرید.',
    recoveryIntro: 'این کلید بازیابی تازه را یادداشت کنید یا در یک فایل ذخیره کنید. با ذخیرهٔ آن، کلید قبلی دیگر کار نمی‌کند.',
    recoveryWarning: 'فقط یک بار نشان داده می‌شود. هر کس آن را داشته باشد می‌تواند به‌جای شما وارد شود: آن را پنهان نگه دارید.',
    recoveryDownload: 'ذخیره در فایل',
    recoveryFileNote: 'این فایل را پنهان نگه دارید. برای پس گرفتن حساب، در صفحهٔ ورود «بازیابی حساب» را بزنید و کلید را وارد کنید.',
    recoverySaved: 'ذخیره‌اش کردم',
    recoverySavedToast: 'کلید بازیابی ذخیره شد.',
    notNow: 'حالا نه',
    signOutLastWithKey: 'این تنها دستگاه شماست. برای ورود دوباره به کلید بازیابی نیاز دارید. خارج می‌شوید؟',
    signOutLastNoKey: 'این تنها دستگاه شماست و کلید بازیابی ندارید. اگر خارج شوید، {handle} برای همیشه از دست می‌رود. اول یک کلید بازیابی بسازید.',
    signOutAnyway: 'با این حال خارج شو',
    makeRecoveryKey: 'ساخت کلید بازیابی',
    newRecoveryKey: 'کلید بازیابی تازه',
    recoveryIsSet: 'کلید بازیابی: ذخیره شده',
    recoveryNotSet: 'هنوز کلید بازیابی ندارید',
    bio: 'دربارهٔ من',
    bioHint: 'یک خط دربارهٔ شما',
    profileSaved: 'نمایه ذخیره شد.',
    linkDevice: 'اتصال دستگاه',
    linkCodeShown: 'این کد را تا ۱۰ دقیقهٔ دیگر در دستگاه تازه وارد کنید:',
    devices: 'دستگاه‌ها',
    thisDevice: 'همین دستگاه',
    signedInUntil: 'اگر استفاده نشود، تا {when} وارد می‌ماند',
    activeNow: 'هم‌اکنون فعال',
    unsentLabel: 'پیش‌نویس: ',
    emoji: 'شکلک',
    newChatPlaceholder: 'یک نام یا @شناسه',
    peopleFound: 'افراد پیدا‌شده',
    privacyFindable: 'چه کسی می‌تواند مرا با نام پیدا کند',
    privacyFindableHint: 'هر کس شناسهٔ دقیق شما را بداند باز هم می‌تواند گفتگو را آغاز کند، مگر تنظیمات دیگرتان جلویش را بگیرد.',
    newMessages: 'پیام‌های تازه',
    unmute: 'لغو بی‌صدا',
    'muteFor.hour': 'بی‌صدا برای یک ساعت',
    'muteFor.day': 'بی‌صدا برای یک روز',
    'muteFor.week': 'بی‌صدا برای یک هفته',
    'muteFor.ever': 'بی‌صدا',
    unreadMutedN: '{n} خوانده‌نشده (بی‌صدا)',
    notifyInGroup: '{name} در {title}',
    notifyOffer: 'وقتی جای دیگری هستید و پیامی می‌رسد، اعلان بگیرید؟',
    notifyTurnOn: 'روشن کن',
    soundSetting: 'صدا برای پیام‌های تازه',
    searchChats: 'جست‌وجوی گفتگوها',
    noMatches: 'هیچ گفتگویی با «{q}» پیدا نشد.',
    lastActive: 'آخرین فعالیت {when}',
    online: 'آنلاین',
    foundMessages: 'پیام‌ها',
    noMessagesFound: 'پیامی پیدا نشد.',
    lastSeen: 'آخرین بازدید {when}',
    renameDevice: 'تغییر نام',
    deviceName: 'نام دستگاه',
    revoked: 'لغوشده',
    revoke: 'لغو دسترسی',
    signOut: 'خروج',
    confirmSignOut: 'از این مرورگر خارج می‌شوید؟ پیام‌ها روی سرور می‌مانند.',
    sendFailed: 'ارسال نشد: {reason}',
    actionFailed: 'انجام نشد: {reason}',
    botNoAnswer: 'ربات پاسخی نداد.',
    signedOutRevoked: 'این دستگاه از حساب خارج شد.',
    'sys.invited': '{actor} {handles} را دعوت کرد',
    'sys.joined': '{actor} به گروه پیوست',
    chatActions: 'کارهای بیشتر',
    blockUser: 'مسدود کردن {handle}',
    unblockUser: 'رفع مسدودی {handle}',
    block: 'مسدود کردن',
    unblock: 'رفع مسدودی',
    confirmBlock: '{handle} مسدود شود؟ دیگر نمی‌تواند به شما پیام بدهد، شما را به گروهی بیفزاید یا رسید خواندن پیام‌هایتان را ببیند. بعداً می‌توانید مسدودی را بردارید.',
    blockedToast: '{handle} را مسدود کردید.',
    unblockedToast: 'مسدودی {handle} برداشته شد.',
    youBlocked: '{handle} را مسدود کرده‌اید. برای فرستادن پیام، مسدودی را بردارید.',
    addContact: 'افزودن به مخاطبان',
    removeContact: 'حذف از مخاطبان',
    contactAdded: '{handle} به مخاطبان شما افزوده شد.',
    contactRemoved: '{handle} دیگر جزو مخاطبان شما نیست.',
    reportUser: 'گزارش {handle}',
    reportMessage: 'گزارش پیام',
    reportTitle: 'گزارش',
    reportWhy: 'دلیل گزارش چیست؟',
    reportAbout: 'پیام {name}:',
    reportAboutUser: 'گزارش {name} ({handle})',
    'reason.spam': 'هرزنامه',
    'reason.abuse': 'آزار: مزاحمت، تهدید یا نفرت‌پراکنی',
    'reason.illegal': 'محتوای غیرقانونی',
    'reason.impersonation': 'جعل هویت دیگری',
    'reason.other': 'دلیل دیگر',
    reportComment: 'توضیح برای گردانندگان (اختیاری)',
    reportSend: 'فرستادن گزارش',
    reportSentTitle: 'گزارش فرستاده شد',
    reportSent: 'سپاس. گزارش شمارهٔ {id} شما برای گردانندگان این سرور فرستاده شد.',
    blockedMessage: 'پیام از کاربری که مسدودش کرده‌اید',
    showIt: 'نمایش',
    privacy: 'حریم خصوصی و امنیت',
    privacyMessages: 'چه کسی می‌تواند با من گفتگو را آغاز کند',
    privacyGroups: 'چه کسی می‌تواند مرا به گروه‌ها بیفزاید',
    privacyGroupsHint: 'دیگران فقط می‌توانند شما را دعوت کنند و پیوستن با خودتان است.',
    privacyLastSeen: 'چه کسی می‌تواند آخرین زمان آنلاین بودنم را ببیند',
    'aud.everybody': 'همه',
    'aud.contacts': 'مخاطبان من',
    'aud.nobody': 'هیچ‌کس',
    saved: 'ذخیره شد.',
    blockedUsers: 'کاربران مسدود',
    noBlocked: 'کسی را مسدود نکرده‌اید.',
    contacts: 'مخاطبان',
    noContacts: 'هنوز مخاطبی ندارید.',
    addContactLabel: 'افزودن مخاطب (شناسه)',
    invitations: 'دعوت‌ها',
    invitesYou: '{who} شما را به «{title}» دعوت کرده است',
    accept: 'پذیرفتن',
    decline: 'رد کردن',
    acceptInvite: 'پذیرفتن دعوت به «{title}»',
    declineInvite: 'رد کردن دعوت به «{title}»',
    inviteGone: 'این دعوت دیگر برقرار نیست.',
  },
};

export const LANGS = [
  { code: 'en', name: 'English' },
  { code: 'fa', name: 'فارسی' },
];

let current = 'en';
let numberFmt = new Intl.NumberFormat('en');

export function lang() {
  return current;
}

/** Switches the interface language and the document's direction. */
export function setLang(code) {
  current = STRINGS[code] ? code : 'en';
  numberFmt = new Intl.NumberFormat(locale());
  const root = document.documentElement;
  root.lang = current;
  root.dir = current === 'fa' ? 'rtl' : 'ltr';
  document.title = STRINGS[current].appName;
}

function locale() {
  return current === 'fa' ? 'fa-IR' : 'en-GB';
}

/** A translated string with {name} placeholders filled in. */
export function t(key, vars) {
  const s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/**
 * Like t(), as DOM nodes: each value sits in a <bdi>, so a Latin name in a Persian sentence (or
 * the other way round) keeps its own direction without reordering the sentence around it.
 */
export function tn(key, vars) {
  const s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  const out = [];
  let last = 0;
  s.replace(/\{(\w+)\}/g, (m, k, i) => {
    out.push(s.slice(last, i));
    const v = vars[k];
    if (v instanceof Node) out.push(v);
    else if (v != null && v !== '') {
      const b = document.createElement('bdi');
      b.textContent = String(v);
      out.push(b);
    }
    last = i + m.length;
    return m;
  });
  out.push(s.slice(last));
  return out.filter((x) => x !== '');
}

export function num(n) {
  return numberFmt.format(n);
}

const fmtCache = new Map();
function fmt(opts) {
  const k = current + JSON.stringify(opts);
  let f = fmtCache.get(k);
  if (!f) fmtCache.set(k, (f = new Intl.DateTimeFormat(locale(), opts)));
  return f;
}

export function timeOf(ms) {
  return fmt({ hour: '2-digit', minute: '2-digit' }).format(new Date(ms));
}

function dayStart(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** "Today", "Yesterday", or the date. */
export function dayOf(ms) {
  const today = dayStart(new Date());
  const day = dayStart(new Date(ms));
  if (day === today) return t('today');
  if (today - day <= 86400000 + 3600000 && today > day) return t('yesterday');
  return fmt({ weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(new Date(ms));
}

export function sameDay(a, b) {
  return dayStart(new Date(a)) === dayStart(new Date(b));
}

/** For the conversation list: time today, weekday this week, else a short date. */
export function shortWhen(ms) {
  if (!ms) return '';
  const now = Date.now();
  if (sameDay(ms, now)) return timeOf(ms);
  if (now - ms < 6 * 86400000) return fmt({ weekday: 'short' }).format(new Date(ms));
  return fmt({ day: 'numeric', month: 'short' }).format(new Date(ms));
}

/** How long ago `ms` was, in words ("5 minutes ago", "yesterday"). */
export function ago(ms, now = Date.now()) {
  const s = Math.round((ms - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' });
  const steps = [[60, 'second', 1], [3600, 'minute', 60], [86400, 'hour', 3600], [86400 * 30, 'day', 86400], [86400 * 365, 'month', 86400 * 30]];
  for (const [limit, unit, size] of steps) {
    if (Math.abs(s) < limit) return unit === 'second' ? rtf.format(0, 'second') : rtf.format(Math.round(s / size), unit);
  }
  return rtf.format(Math.round(s / (86400 * 365)), 'year');
}

/** A calendar date with its year, for dates far from today. */
export function dateOf(ms) {
  return fmt({ day: 'numeric', month: 'long', year: 'numeric' }).format(new Date(ms));
}

/** A protocol error as a sentence. */
export function errorText(e) {
  const code = e && e.code;
  const message = (e && e.message) || String(e);
  if (code === 'rate_limited' || code === 'overloaded' || code === 'unavailable') return t('err.busy');
  if (code === 'disconnected' || code === 'timeout') return t('err.offline');
  if (code && STRINGS.en['err.' + code]) return t('err.' + code, { message });
  return t('err.other', { message });
}
