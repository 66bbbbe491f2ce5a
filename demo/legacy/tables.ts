// One row generator per legacy table. Each yields rows as lines of PostgreSQL COPY text format
// (tab-separated, \N for NULL), in primary-key order, from its own PRNG stream: a table's rows
// never depend on how the generation of other tables was interleaved.
import { FOUNDERS, GENDER, LANGS, Population, type ScaleSpec } from './population.ts';
import { DAY, HOUR, Rng, SNAPSHOT, YEAR, decimalText, helsinkiDatetime, isoDate } from './random.ts';
import {
  ABUSE_REASONS, BLOCK_REASONS, CHAT_WORDS, CITIES, EMOJI, FIRST_NAMES_F, FIRST_NAMES_M, MAIL_DOMAINS, NICK_EMOJI, SURNAMES,
} from './words.ts';

export type LegacyTable =
  | 'Members' | 'ProfileTexts' | 'Photos' | 'Messages' | 'Flirts' | 'Favorites' | 'Blocks' | 'ProfileVisits' | 'AbuseReports';

export interface TableDef {
  name: LegacyTable;
  /** In DDL order (the COPY column list). */
  columns: readonly string[];
  primaryKey: readonly string[];
  /** The identity column, whose sequence is moved past the generated ids. */
  identity?: string;
}

export const TABLES: readonly TableDef[] = [
  { name: 'Members', identity: 'Id', primaryKey: ['Id'], columns: ['Id', 'Nickname', 'Email', 'Gender', 'BirthDate', 'City', 'RegisteredAt', 'LastSeenAt', 'DeletedAt', 'Balance', 'Rating', 'ExternalId'] },
  { name: 'ProfileTexts', primaryKey: ['MemberId', 'Lang'], columns: ['MemberId', 'Lang', 'Body', 'UpdatedAt'] },
  { name: 'Photos', identity: 'Id', primaryKey: ['Id'], columns: ['Id', 'MemberId', 'Url', 'Width', 'Height', 'IsPrimary', 'UploadedAt', 'DeletedAt'] },
  { name: 'Messages', identity: 'Id', primaryKey: ['Id'], columns: ['Id', 'SenderId', 'RecipientId', 'Body', 'SentAt', 'ReadAt', 'IsRead', 'DeletedBySender', 'DeletedByRecipient'] },
  { name: 'Flirts', identity: 'Id', primaryKey: ['Id'], columns: ['Id', 'FromId', 'ToId', 'Kind', 'SentAt'] },
  { name: 'Favorites', primaryKey: ['MemberId', 'FavoriteId'], columns: ['MemberId', 'FavoriteId', 'AddedAt'] },
  { name: 'Blocks', primaryKey: ['BlockerId', 'BlockedId'], columns: ['BlockerId', 'BlockedId', 'BlockedAt', 'Reason'] },
  { name: 'ProfileVisits', identity: 'Id', primaryKey: ['Id'], columns: ['Id', 'VisitorId', 'VisitedId', 'VisitedAt'] },
  { name: 'AbuseReports', identity: 'Id', primaryKey: ['Id'], columns: ['Id', 'ReporterId', 'ReportedId', 'Reason', 'Details', 'ReportedAt', 'HandledAt', 'Fine'] },
];

/** Numbers about the generated data that later stages check their results against. */
export interface LegacyFacts {
  membersSoftDeleted: number;
  /** Member ids handed out and later hard-deleted: gaps in Members.Id. */
  membersPurged: number;
  messagesRead: number;
  /** Read before ReadAt existed (2011-05): IsRead = 1 and ReadAt NULL. */
  messagesReadWithoutReadAt: number;
  messagesWithNullBody: number;
  photosDeleted: number;
  /** ProfileVisits rows whose visitor or visited member was purged (no foreign key there). */
  visitsOfPurgedMembers: number;
  abuseReportsHandled: number;
}

export function emptyFacts(): LegacyFacts {
  return { membersSoftDeleted: 0, membersPurged: 0, messagesRead: 0, messagesReadWithoutReadAt: 0, messagesWithNullBody: 0, photosDeleted: 0, visitsOfPurgedMembers: 0, abuseReportsHandled: 0 };
}

export interface GenContext {
  seed: string;
  spec: ScaleSpec;
  pop: Population;
  corpus: Corpus;
  facts: LegacyFacts;
}

const NULL = '\\N';
const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
/** A text value in COPY text format. */
function t(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]) : value;
}
const when = helsinkiDatetime;
const bool = (b: boolean) => (b ? 't' : 'f');

const READ_AT_SINCE = Date.UTC(2011, 4, 1);
const EXTERNAL_ID_SINCE = Date.UTC(2009, 0, 1);
const PHOTO_SIZES_SINCE = Date.UTC(2010, 0, 1);
const SUPERFLIRT_RETIRED = Date.UTC(2012, 5, 1);

/**
 * A long, deterministic run of chat-like text; message and profile bodies are slices of it, which
 * is what makes generating a million of them cheap. Holds newlines, tabs, backslashes, quotes and
 * emoji, so every escaping path is exercised.
 */
export class Corpus {
  readonly text: string;
  private readonly starts: Uint32Array;
  /** `text` in COPY escaping, and where each raw offset lands in it: slices need no regex. */
  private readonly escaped: string;
  private readonly escapedAt: Uint32Array;

  constructor(seed: string, size = 1 << 20) {
    const rng = new Rng(`${seed}:corpus`);
    const parts: string[] = [];
    const starts: number[] = [];
    let length = 0;
    let sentenceStart = true;
    while (length < size) {
      let word: string = rng.chance(0.04) ? rng.pick(EMOJI) : rng.pick(CHAT_WORDS);
      if (sentenceStart) word = word[0].toUpperCase() + word.slice(1);
      starts.push(length);
      const r = rng.next();
      let sep = ' ';
      if (r < 0.08) { sep = rng.pick(['. ', '! ', '? ', '... ']); sentenceStart = true; }
      else if (r < 0.1) { sep = rng.pick(['.\n', '!\n\n', '\r\n']); sentenceStart = true; }
      else if (r < 0.13) { sep = ', '; sentenceStart = false; }
      else if (r < 0.1305) { sep = '\t'; sentenceStart = false; }
      else if (r < 0.131) { sep = ' :-\\ '; sentenceStart = false; }
      else if (r < 0.135) { word = `"${word}"`; sentenceStart = false; }
      else sentenceStart = false;
      parts.push(word, sep);
      length += word.length + sep.length;
    }
    this.text = parts.join('');
    this.starts = Uint32Array.from(starts);
    this.escapedAt = new Uint32Array(this.text.length + 1);
    let at = 0;
    for (let i = 0; i < this.text.length; i++) {
      this.escapedAt[i] = at;
      at += COPY_ESCAPES[this.text[i]]?.length ?? 1;
    }
    this.escapedAt[this.text.length] = at;
    this.escaped = t(this.text);
  }

  private range(rng: Rng, length: number): [number, number] {
    let start: number;
    do start = this.starts[rng.int(this.starts.length)];
    while (start + length > this.text.length);
    let end = start + length;
    const last = this.text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end -= 1;
    return [start, end];
  }

  /**
   * About `length` UTF-16 units of text (never more, never a split surrogate pair) from a word
   * start, already in COPY escaping (without scanning the text again).
   */
  sliceForCopy(rng: Rng, length: number): string {
    const [start, end] = this.range(rng, length);
    return this.escaped.slice(this.escapedAt[start], this.escapedAt[end]);
  }
}

function* members(ctx: GenContext): Generator<string> {
  const { pop } = ctx;
  const rng = new Rng(`${ctx.seed}:Members`);
  const founders = [
    // Test accounts with the extreme values of their types.
    ['Ylläpito', 'admin@treffit.example', '922337203685477.5807', '5.00'],
    ['Testi Tunnus', 'testi@treffit.example', '-922337203685477.5808', '0.00'],
    ['Åsa Öberg', 'asa.oberg@treffit.example', '0.0001', '999.99'],
    ['Päivi (test)', 'PAIVI@TREFFIT.EXAMPLE', '-0.0001', '-999.99'],
    ['Jyväskylä-admin 💕', null, '1234567.8900', null],
  ] as const;
  const genderText = ['M', 'F', NULL, 'm', 'f'];
  for (let i = 0; i < pop.count; i++) {
    if (pop.purged[i]) { ctx.facts.membersPurged++; continue; }
    const reg = pop.registeredAt[i];
    const female = pop.isFemale(i) || (pop.gender[i] === GENDER.NULL && rng.chance(0.5));
    const first = rng.pick(female ? FIRST_NAMES_F : FIRST_NAMES_M);
    const surname = rng.pick(SURNAMES);
    const age = 18 + Math.floor(52 * rng.next() * rng.next());
    const birth = reg - age * YEAR - rng.int(365) * DAY;
    let nickname: string, email: string, balance: string, rating: string;
    if (i < FOUNDERS) {
      const f = founders[i];
      nickname = f[0];
      email = f[1] ?? NULL;
      balance = f[2];
      rating = f[3] ?? NULL;
    } else {
      const form = rng.next();
      const yy = String(new Date(birth).getUTCFullYear() % 100).padStart(2, '0');
      nickname = form < 0.35 ? `${first}${rng.between(1, 99)}`
        : form < 0.6 ? `${first}_${surname}`
        : form < 0.8 ? `${first.toLowerCase()}${yy}`
        : form < 0.97 ? `${first}.${surname[0]}`
        : `${first}${rng.pick(NICK_EMOJI)}`;
      const local = `${ascii(first)}.${ascii(surname)}${rng.chance(0.5) ? rng.between(1, 999) : ''}`.toLowerCase();
      const e = rng.next();
      email = e < 0.05 ? NULL // signed up through an old partner site
        : e < 0.08 ? `${local}@${rng.pick(MAIL_DOMAINS)}`.toUpperCase()
        : e < 0.09 ? `${first.toLowerCase()}.${surname.toLowerCase()}@${rng.pick(MAIL_DOMAINS)}` // unicode local part
        : `${local}@${rng.pick(MAIL_DOMAINS)}`;
      const b = rng.next();
      balance = b < 0.75 ? '0.0000' : decimalText(b < 0.76 ? -rng.between(1, 500_000) : rng.int(20_000_000), 4);
      rating = rng.chance(0.15) ? NULL : decimalText(rng.int(501), 2);
    }
    const birthDate = rng.chance(0.01) && i >= FOUNDERS ? '1900-01-01' : isoDate(birth);
    const c = rng.next();
    let city: string = rng.weighted(CITIES);
    if (c < 0.06) city = NULL;
    else if (c < 0.07) city = city.toUpperCase();
    else if (c < 0.08) city = ` ${city} `;
    const until = pop.activeUntil[i];
    const lastSeen = until - reg < HOUR || rng.chance(0.02) ? NULL : when(until);
    const deleted = pop.deletedAt[i];
    if (!Number.isNaN(deleted)) ctx.facts.membersSoftDeleted++;
    const externalId = reg < EXTERNAL_ID_SINCE ? NULL : rng.uuid();
    yield `${i + 1}\t${t(nickname)}\t${email}\t${genderText[pop.gender[i]]}\t${birthDate}\t${city}\t${when(reg)}\t${lastSeen}\t${Number.isNaN(deleted) ? NULL : when(deleted)}\t${balance}\t${rating}\t${externalId}\n`;
  }
}

function ascii(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
}

function* profileTexts(ctx: GenContext): Generator<string> {
  const { pop, corpus } = ctx;
  const rng = new Rng(`${ctx.seed}:ProfileTexts`);
  for (let i = 0; i < pop.count; i++) {
    if (pop.purged[i]) continue;
    for (let l = 0; l < LANGS.length; l++) {
      if (!(pop.langMask[i] & (1 << l))) continue;
      const r = rng.next();
      const u = rng.next();
      // nvarchar(max): a few are longer than 4,000 characters (the nvarchar(n) limit).
      const body = r < 0.03 ? '' : r < 0.04 ? corpus.sliceForCopy(rng, rng.between(4001, 12_000)) : corpus.sliceForCopy(rng, 20 + Math.floor(u * u * 1500));
      const reg = pop.registeredAt[i];
      const updated = rng.chance(0.3) ? NULL : when(reg + Math.floor(rng.next() * (pop.activeUntil[i] - reg)));
      yield `${i + 1}\t${LANGS[l]}\t${body}\t${updated}\n`;
    }
  }
}

function* photos(ctx: GenContext): Generator<string> {
  const { pop } = ctx;
  const rng = new Rng(`${ctx.seed}:Photos`);
  const sizes = [[640, 480], [1024, 768], [1080, 1350], [3024, 4032], [800, 600], [1920, 1080]] as const;
  let id = 0;
  for (let i = 0; i < pop.count; i++) {
    const n = pop.photoCount[i];
    if (pop.purged[i] || n === 0) continue;
    const reg = pop.registeredAt[i];
    const times: number[] = [];
    for (let k = 0; k < n; k++) times.push(reg + Math.floor(rng.next() * (pop.activeUntil[i] - reg)));
    times.sort((a, b) => a - b);
    const primaries = rng.next(); // legacy bug: some members have two primary photos, some none
    for (let k = 0; k < n; k++) {
      id++;
      const at = times[k];
      const modern = at >= PHOTO_SIZES_SINCE;
      const url = modern ? `https://img.treffit.example/p/${i + 1}/${rng.uint32().toString(16).padStart(8, '0')}.jpg` : `/uploads/${i + 1}_${k + 1}.JPG`;
      const size = rng.pick(sizes);
      const primary = k === 0 ? primaries >= 0.05 : k === 1 && primaries < 0.03;
      const deleted = rng.chance(0.08) ? at + Math.floor(rng.next() * (SNAPSHOT - HOUR - at)) : NaN;
      if (!Number.isNaN(deleted)) ctx.facts.photosDeleted++;
      yield `${id}\t${i + 1}\t${url}\t${modern ? size[0] : NULL}\t${modern ? size[1] : NULL}\t${bool(primary)}\t${when(at)}\t${Number.isNaN(deleted) ? NULL : when(deleted)}\n`;
    }
  }
}

function* messages(ctx: GenContext): Generator<string> {
  const { pop, corpus, spec } = ctx;
  const rng = new Rng(`${ctx.seed}:Messages`);
  // Recent conversations, so that many messages are replies within a thread. N times fi has N
  // times the messages in the same years: N times the ring keeps a reply as far back in time.
  const RING = 512 * spec.fiMultiple;
  const ringFrom = new Int32Array(RING), ringTo = new Int32Array(RING);
  let ringSize = 0, ringNext = 0;
  const n = spec.messages;
  for (let k = 0; k < n; k++) {
    const at = pop.slotTime(rng, k, n);
    let from = -1, to = -1;
    if (ringSize > 0 && rng.chance(0.55)) {
      const j = rng.int(ringSize);
      const replier = ringTo[j], other = ringFrom[j];
      if (pop.activeUntil[replier] >= at && !(pop.deletedAt[other] <= at)) { from = replier; to = other; }
    }
    if (from < 0) {
      from = pop.pickActor(rng, at);
      to = pop.pickTarget(rng, at, from);
    }
    ringFrom[ringNext] = from; ringTo[ringNext] = to;
    ringNext = (ringNext + 1) % RING;
    if (ringSize < RING) ringSize++;

    const shape = rng.next();
    let body: string;
    if (shape < 0.002) { body = NULL; ctx.facts.messagesWithNullBody++; }
    else if (shape < 0.007) body = '';
    else if (shape < 0.008) body = corpus.sliceForCopy(rng, 2000);
    else {
      const u = rng.next();
      const length = shape < 0.72 ? 2 + Math.floor(u * 96) : shape < 0.95 ? 100 + Math.floor(u * 400) : 600 + Math.floor(u * 1400);
      body = corpus.sliceForCopy(rng, length);
    }
    let readAt = NULL, isRead = false;
    if (pop.activeUntil[to] >= at && rng.chance(0.88)) {
      isRead = true;
      ctx.facts.messagesRead++;
      const d = rng.next();
      if (at < READ_AT_SINCE) ctx.facts.messagesReadWithoutReadAt++;
      else readAt = when(Math.min(at + Math.floor(d * d * d * 3 * DAY), pop.activeUntil[to]));
    }
    yield `${k + 1}\t${from + 1}\t${to + 1}\t${body}\t${when(at)}\t${readAt}\t${bool(isRead)}\t${bool(rng.chance(0.03))}\t${bool(rng.chance(0.04))}\n`;
  }
}

function* flirts(ctx: GenContext): Generator<string> {
  const { pop, spec } = ctx;
  const rng = new Rng(`${ctx.seed}:Flirts`);
  const n = spec.flirts;
  for (let k = 0; k < n; k++) {
    const at = pop.slotTime(rng, k, n);
    const from = pop.pickActor(rng, at);
    const to = pop.pickTarget(rng, at, from);
    // 1 wink, 2 smile, 3 rose, 4 kiss; 9 was the "superflirt", retired in 2012.
    const kind = at < SUPERFLIRT_RETIRED && rng.chance(0.08) ? 9 : rng.weighted([[1, 50], [2, 25], [3, 15], [4, 10]]);
    yield `${k + 1}\t${from + 1}\t${to + 1}\t${kind}\t${when(at)}\n`;
  }
}

/** Unique (member, other) pairs for the composite-key tables. */
function* pairs(ctx: GenContext, table: 'Favorites' | 'Blocks', n: number): Generator<[number, number, number, Rng]> {
  const { pop } = ctx;
  const rng = new Rng(`${ctx.seed}:${table}`);
  const seen = new Set<number>();
  for (let k = 0; k < n; k++) {
    let at = pop.slotTime(rng, k, n);
    for (let dups = 1; ; dups++) {
      const from = pop.pickActor(rng, at);
      const to = pop.pickTarget(rng, at, from);
      const key = from * 4_294_967_296 + to;
      if (seen.has(key)) {
        // Early on few members exist and their pairs run out: let the clock move on a little.
        if (dups % 20 === 0) at = Math.min(at + DAY, SNAPSHOT - HOUR);
        continue;
      }
      seen.add(key);
      yield [from, to, at, rng];
      break;
    }
  }
}

function* favorites(ctx: GenContext): Generator<string> {
  for (const [from, to, at] of pairs(ctx, 'Favorites', ctx.spec.favorites)) yield `${from + 1}\t${to + 1}\t${when(at)}\n`;
}

function* blocks(ctx: GenContext): Generator<string> {
  for (const [from, to, at, rng] of pairs(ctx, 'Blocks', ctx.spec.blocks)) {
    const reason = rng.chance(0.6) ? NULL : t(rng.pick(BLOCK_REASONS));
    yield `${from + 1}\t${to + 1}\t${when(at)}\t${reason}\n`;
  }
}

function* profileVisits(ctx: GenContext): Generator<string> {
  const { pop, spec } = ctx;
  const rng = new Rng(`${ctx.seed}:ProfileVisits`);
  const n = spec.visits;
  for (let k = 0; k < n; k++) {
    const at = pop.slotTime(rng, k, n);
    const visitor = pop.pickActor(rng, at, true);
    const visited = pop.pickTarget(rng, at, visitor, true);
    if (pop.purged[visitor] || pop.purged[visited]) ctx.facts.visitsOfPurgedMembers++;
    yield `${k + 1}\t${visitor + 1}\t${visited + 1}\t${when(at)}\n`;
  }
}

function* abuseReports(ctx: GenContext): Generator<string> {
  const { pop, spec, corpus } = ctx;
  const rng = new Rng(`${ctx.seed}:AbuseReports`);
  const fines = ['50.00', '99.90', '150.00', '1000.00', '0.01'];
  const n = spec.abuseReports;
  for (let k = 0; k < n; k++) {
    const at = pop.slotTime(rng, k, n);
    const reporter = pop.pickActor(rng, at);
    const reported = pop.pickTarget(rng, at, reporter);
    const reason = t(rng.weighted(ABUSE_REASONS));
    const details = rng.chance(0.4) ? NULL : corpus.sliceForCopy(rng, rng.between(10, 600));
    let handled = NULL, fine = NULL;
    if (at < SNAPSHOT - 14 * DAY && rng.chance(0.9)) {
      ctx.facts.abuseReportsHandled++;
      handled = when(Math.min(at + Math.floor(rng.next() * 10 * DAY), SNAPSHOT - HOUR));
      if (rng.chance(0.08)) fine = rng.pick(fines);
    }
    yield `${k + 1}\t${reporter + 1}\t${reported + 1}\t${reason}\t${details}\t${when(at)}\t${handled}\t${fine}\n`;
  }
}

export const ROW_GENERATORS: Record<LegacyTable, (ctx: GenContext) => Generator<string>> = {
  Members: members,
  ProfileTexts: profileTexts,
  Photos: photos,
  Messages: messages,
  Flirts: flirts,
  Favorites: favorites,
  Blocks: blocks,
  ProfileVisits: profileVisits,
  AbuseReports: abuseReports,
};

/** Row counts implied by the scale (without generating anything but the members' arrays). */
export function countsOf(spec: ScaleSpec, pop: Population): Record<LegacyTable, number> {
  let members = 0, texts = 0, photoRows = 0;
  for (let i = 0; i < pop.count; i++) {
    if (pop.purged[i]) continue;
    members++;
    photoRows += pop.photoCount[i];
    for (let m = pop.langMask[i]; m; m &= m - 1) texts++;
  }
  return {
    Members: members, ProfileTexts: texts, Photos: photoRows, Messages: spec.messages, Flirts: spec.flirts,
    Favorites: spec.favorites, Blocks: spec.blocks, ProfileVisits: spec.visits, AbuseReports: spec.abuseReports,
  };
}
