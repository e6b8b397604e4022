/*
 * .driftignore: one rule per line, `#` starts a comment.
 *   aws_s3_bucket.my-bucket          a resource: none of its drift
 *   aws_iam_user.*                   every resource of a type
 *   aws_instance.i-0abc.tags.Owner   one attribute path (and what is under it)
 *   *.*.tags.LastScanned             wildcards in any part
 * Parts are separated by dots; `\.` is a dot inside a part (ids with dots). The id part matches the
 * resource's native id (sg-0abc, bucket name) or its canonical id (ARN).
 */

interface Rule {
  type: RegExp;
  id: RegExp;
  path: RegExp[];
}

function glob(part: string): RegExp {
  return new RegExp(
    `^${part
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/** Splits on dots not preceded by a backslash, and unescapes `\.`. */
function parts(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && line[i + 1] === '.') {
      cur += '.';
      i++;
    } else if (c === '.') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export class DriftIgnore {
  readonly #rules: Rule[] = [];

  /** Rules from .driftignore text; a line that is not `type.id[.path]` is an error naming it. */
  constructor(text = '') {
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const p = parts(line);
      if (p.length < 2 || p.some((x) => x === '')) throw new Error(`.driftignore line ${i + 1}: "${line}" is not type.id or type.id.attribute.path`);
      this.#rules.push({ type: glob(p[0]!), id: glob(p[1]!), path: p.slice(2).map(glob) });
    });
  }

  get size(): number {
    return this.#rules.length;
  }

  /** Whether a drift of a resource (its type and ids), at an attribute path or of the whole resource (''), is ignored. */
  ignores(type: string, ids: readonly string[], attribute: string): boolean {
    const path = attribute ? attribute.split('.') : [];
    return this.#rules.some((r) => {
      if (!r.type.test(type) || !ids.some((id) => r.id.test(id))) return false;
      if (r.path.length === 0) return true;
      return r.path.length <= path.length && r.path.every((g, i) => g.test(path[i]!));
    });
  }
}
