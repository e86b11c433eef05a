/**
 * Where things are in a JSON text, for messages about files people write (rules, store
 * configs): the line and column of a syntax error, and of the value or key at a path.
 * A small scanner of its own, because JSON.parse reports neither lines nor paths.
 */

export interface TextPosition {
  line: number;
  column: number;
}

/** 1-based line and column of character `offset` in `text`. */
export function positionAt(text: string, offset: number): TextPosition {
  let line = 1;
  let start = 0;
  const end = Math.max(0, Math.min(offset, text.length));
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: end - start + 1 };
}

/** The offset a JSON.parse SyntaxError points at (Node states "at position N"), else the end of the text. */
export function syntaxErrorOffset(text: string, err: unknown): number {
  const m = /position (\d+)/.exec(err instanceof Error ? err.message : '');
  return m ? Number(m[1]) : text.length;
}

type PathKey = string | number;

/**
 * Offsets of every value in a well-formed JSON text, keyed by its path (joined with NUL), and
 * of every object key (the key's path with a trailing NUL and "#key").
 */
function indexText(text: string): Map<string, number> {
  const at = new Map<string, number>();
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (path: PathKey[], depth: number): void => {
    ws();
    at.set(path.join('\0'), i);
    if (depth > 64) throw new Error('too deep');
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        const keyAt = i;
        const key = str();
        at.set([...path, key].join('\0') + '\0#key', keyAt);
        ws();
        i++; // colon
        value([...path, key], depth + 1);
        ws();
        if (text[i++] === '}') return;
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (let n = 0; ; n++) {
        value([...path, n], depth + 1);
        ws();
        if (text[i++] === ']') return;
      }
    }
    if (c === '"') return void str();
    while (i < text.length && !',]} \t\r\n'.includes(text[i]!)) i++;
  };
  value([], 0);
  return at;
}

/**
 * Position of the value at `path` (or, with `key`, of that key's name) in `text`; the nearest
 * enclosing value that exists when the path does not (a missing key points at its object).
 */
export function locatePath(text: string, path: readonly PropertyKey[], key = false): TextPosition | undefined {
  let index: Map<string, number>;
  try {
    index = indexText(text);
  } catch {
    return undefined;
  }
  const p = path.map((k) => (typeof k === 'number' ? k : String(k)));
  if (key) {
    const o = index.get(p.join('\0') + '\0#key');
    if (o !== undefined) return positionAt(text, o);
  }
  for (let n = p.length; n >= 0; n--) {
    const o = index.get(p.slice(0, n).join('\0'));
    if (o !== undefined) return positionAt(text, o);
  }
  return undefined;
}

/** Position of the key that ends `path` in `text`, or undefined when the text has no such key. */
export function findKey(text: string, path: readonly PropertyKey[]): TextPosition | undefined {
  try {
    const o = indexText(text).get(path.map((k) => (typeof k === 'number' ? k : String(k))).join('\0') + '\0#key');
    return o === undefined ? undefined : positionAt(text, o);
  } catch {
    return undefined;
  }
}

/** Levenshtein distance, for "did you mean" (short strings only). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The candidate closest to `word` when it is close enough to be a typo of it. */
export function closestWord(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}
