/**
 * @module
 * Topic patterns to subscribers: exact topics in a map, wildcards in a trie.
 */
/**
 * Maps topic patterns to values and finds every value whose pattern matches a
 * topic. Exact topics sit in a hash map; wildcard patterns in a trie walked
 * segment by segment, so a lookup costs O(segments) and never grows with the
 * number of subscribers or topics.
 */
interface Node<T> {
  children: Map<string, Node<T>>
  star?: Node<T>
  /** Values whose pattern ends here. */
  here: Set<T>
  /** Values whose pattern ends with "/**" below this node. */
  rest: Set<T>
}

const node = <T>(): Node<T> => ({ children: new Map(), here: new Set(), rest: new Set() })

export class TopicIndex<T> {
  private readonly exact = new Map<string, Set<T>>()
  /** The trie of wildcard patterns, made with the first: most sets (a subscription to one topic) have none. */
  private root: Node<T> | undefined
  private wildcards = 0

  add(pattern: string, value: T): void {
    if (!pattern.includes('*')) {
      let set = this.exact.get(pattern)
      if (!set) this.exact.set(pattern, (set = new Set()))
      set.add(value)
      return
    }
    const { target, rest } = this.walk(pattern, true)!
    const set = rest ? target.rest : target.here
    if (!set.has(value)) this.wildcards++
    set.add(value)
  }

  remove(pattern: string, value: T): void {
    if (!pattern.includes('*')) {
      const set = this.exact.get(pattern)
      if (set?.delete(value) && set.size === 0) this.exact.delete(pattern)
      return
    }
    // Trie nodes are left in place: patterns are few and reused, pruning buys little.
    const found = this.walk(pattern, false)
    if (found && (found.rest ? found.target.rest : found.target.here).delete(value)) this.wildcards--
  }

  /** Calls fn for each (value, pattern) match; a value held under two matching patterns is seen twice. */
  forEach(topic: string, fn: (value: T) => void): void {
    const set = this.exact.get(topic)
    if (set) for (const v of set) fn(v)
    if (this.root !== undefined && this.wildcards > 0) this.visit(this.root, topic.split('/'), 0, fn)
  }

  matches(topic: string): boolean {
    if (this.exact.has(topic)) return true
    let hit = false
    if (this.root !== undefined && this.wildcards > 0) this.visit(this.root, topic.split('/'), 0, () => (hit = true))
    return hit
  }

  private visit(n: Node<T>, segs: string[], i: number, fn: (value: T) => void): void {
    if (i === segs.length) {
      for (const v of n.here) fn(v)
      return
    }
    for (const v of n.rest) fn(v)
    const child = n.children.get(segs[i]!)
    if (child) this.visit(child, segs, i + 1, fn)
    if (n.star) this.visit(n.star, segs, i + 1, fn)
  }

  private walk(pattern: string, create: boolean): { target: Node<T>; rest: boolean } | undefined {
    if (this.root === undefined) {
      if (!create) return undefined
      this.root = node<T>()
    }
    const segs = pattern.split('/')
    let n = this.root
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!
      if (s === '**') return { target: n, rest: true }
      let next = s === '*' ? n.star : n.children.get(s)
      if (!next) {
        if (!create) return undefined
        next = node<T>()
        if (s === '*') n.star = next
        else n.children.set(s, next)
      }
      n = next
    }
    return { target: n, rest: false }
  }
}

/** A fixed set of patterns, for filtering reads and snapshots; `allow` narrows it further (private topics a reader may not see). */
export class PatternSet {
  private readonly index = new TopicIndex<true>()
  constructor(
    readonly patterns: readonly string[],
    private readonly allow?: (topic: string) => boolean,
  ) {
    for (const p of patterns) this.index.add(p, true)
  }
  matches(topic: string): boolean {
    return this.index.matches(topic) && (this.allow === undefined || this.allow(topic))
  }
  /** Exact topics only (no wildcard): lets a snapshot look them up instead of scanning. */
  get exactOnly(): boolean {
    return this.patterns.every((p) => !p.includes('*'))
  }
}
