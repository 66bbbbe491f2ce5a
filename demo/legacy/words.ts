// Word pools for names, places and chat: Finnish and Swedish first (the site is Finnish, with a
// Swedish-speaking minority), some English, and a few emoji (outside the BMP: UTF-16 surrogate pairs).

export const FIRST_NAMES_F = [
  'Päivi', 'Åsa', 'Sanna', 'Anni', 'Liisa', 'Tuula', 'Sari', 'Heidi', 'Jenni', 'Mari', 'Elina', 'Kaisa', 'Minna',
  'Riikka', 'Hanna', 'Ulla', 'Maija', 'Sirpa', 'Tiina', 'Aino', 'Emmi', 'Siiri', 'Ebba', 'Märta', 'Ingrid',
  'Linnéa', 'Saga', 'Johanna', 'Satu', 'Pirjo', 'Katriina', 'Eeva', 'Noora', 'Jaana', 'Ylva', 'Åse',
] as const;

export const FIRST_NAMES_M = [
  'Jyrki', 'Mikko', 'Jussi', 'Pekka', 'Matti', 'Antti', 'Ville', 'Juha', 'Timo', 'Janne', 'Markku', 'Kari',
  'Jörgen', 'Björn', 'Håkan', 'Lasse', 'Tapio', 'Sami', 'Teemu', 'Olli', 'Joonas', 'Väinö', 'Eero', 'Aleksi',
  'Göran', 'Sören', 'Niklas', 'Petteri', 'Jarmo', 'Risto', 'Ilkka', 'Tuomas', 'Åke', 'Kjell',
] as const;

export const SURNAMES = [
  'Öberg', 'Virtanen', 'Korhonen', 'Mäkinen', 'Nieminen', 'Hämäläinen', 'Lindqvist', 'Åberg', 'Söderström',
  'Laine', 'Heikkinen', 'Koskinen', 'Järvinen', 'Lehtonen', 'Mäkelä', 'Räsänen', 'Björklund', 'Sjöberg',
  'Ahonen', 'Kärkkäinen', 'Salo', 'Turunen', 'Pöllänen', 'Ekström', 'Nyström', 'Väisänen', 'Kääriäinen',
] as const;

/** [city, weight]: roughly where people live. */
export const CITIES: ReadonlyArray<readonly [string, number]> = [
  ['Helsinki', 30], ['Espoo', 12], ['Tampere', 10], ['Vantaa', 9], ['Oulu', 8], ['Turku', 8], ['Jyväskylä', 6],
  ['Lahti', 5], ['Kuopio', 5], ['Pori', 3], ['Joensuu', 3], ['Lappeenranta', 3], ['Hämeenlinna', 3],
  ['Vaasa', 3], ['Seinäjoki', 2], ['Rovaniemi', 2], ['Mikkeli', 2], ['Kotka', 2], ['Porvoo', 2],
  ['Kokkola', 1], ['Mariehamn', 1], ['Pietarsaari', 1], ['Äänekoski', 1], ['Ylöjärvi', 1], ['Savonlinna', 1],
  ['Göteborg', 1], ['Malmö', 1], ['Örebro', 1], ['Västerås', 1], ['Umeå', 1], ['Stockholm', 2],
];

export const MAIL_DOMAINS = ['gmail.com', 'hotmail.com', 'luukku.com', 'suomi24.fi', 'yahoo.com', 'kolumbus.fi', 'telia.se', 'outlook.com'] as const;

export const CHAT_WORDS = [
  // Finnish
  'moi', 'hei', 'mitä', 'kuuluu', 'kiitos', 'kivaa', 'päivää', 'ihana', 'hymy', 'kahvi', 'lenkki', 'mökki',
  'sauna', 'järvi', 'kesä', 'talvi', 'hyvää', 'yötä', 'nähdään', 'viikonloppuna', 'elokuvissa', 'kävelyllä',
  'työ', 'koira', 'kissa', 'olisiko', 'kiva', 'tavata', 'joskus', 'mulla', 'sulla', 'meni', 'hyvin', 'tänään',
  'huomenna', 'ehkä', 'kyllä', 'ei', 'no', 'niin', 'että', 'vähän', 'väsyttää', 'söpö', 'profiili', 'kuva',
  'lähetä', 'viesti', 'älä', 'höpsö', 'naurattaa', 'ulkoilu', 'metsä', 'marjat', 'sieniä', 'jäätelö',
  // Swedish
  'hej', 'hur', 'mår', 'du', 'tack', 'kram', 'trevlig', 'helg', 'fika', 'gärna', 'på', 'lördag', 'sjön',
  'stugan', 'älskar', 'mysig', 'vi', 'ses', 'också', 'kanske', 'någon', 'gång', 'båt', 'skärgården',
  // English
  'hi', 'how', 'are', 'you', 'nice', 'coffee', 'weekend', 'maybe', 'sometime', 'love', 'music', 'travel',
  'smile', 'haha', 'lol', 'really', 'cool', 'the', 'and', 'to', 'with', 'me',
] as const;

export const EMOJI = ['😊', '❤️', '😂', '👍', '🌞', '💕', '😉', '🙈', '☕', '🎶'] as const;

/** Nickname decorations that legacy users loved. */
export const NICK_EMOJI = ['💕', '🌸', '⭐', '😎', '🦋'] as const;

export const BLOCK_REASONS = [
  'spam', 'Häiriköinti', 'ahdistelu', 'Trakasserier', 'fake', 'rude', 'ei kiinnosta', 'lähetti kuvia', 'Älä ota yhteyttä',
] as const;

/** Free-text reasons, spelled as the old form let people spell them. */
export const ABUSE_REASONS: ReadonlyArray<readonly [string, number]> = [
  ['spam', 30], ['Spam', 8], ['SPAM ', 2], ['fake profile', 20], ['harassment', 15], ['Häirintä', 10],
  ['underage', 3], ['scam', 8], ['other', 10], ['Muu syy', 4],
];
