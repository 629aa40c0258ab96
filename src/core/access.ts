/**
 * @module
 * Who may read and publish what. Topics matching PRIVATE_TOPICS are private:
 * only a grant (from a verified token, or the publish token's full rights)
 * that covers them may read them. Public topics are open to anyone. The
 * pattern arithmetic (may two patterns match a common topic? does one hold
 * every topic of another?) decides which subscriptions to refuse up front.
 */

import { covers, overlaps, SEGMENT } from '../protocol/grammar.ts'
import { SUB_PLACEHOLDER } from '../protocol/tokens.ts'
import { FeedError } from './errors.ts'
import { PatternSet } from './topic-index.ts'

/** What one bearer may do; `undefined` grants (anonymous) read public topics and publish nothing. */
export interface Grant {
  /** Token subject, when there is one: the publish-rate identity. */
  sub?: string
  /** When the grant ends, ms since the epoch (Infinity for the publish token). */
  expiresAt: number
  /** Everything, private topics included (the publish token). */
  all: boolean
  subscribe: PatternSet
  publish: PatternSet
}

/** The publish token's grant: full rights, never expiring. */
export const FULL_GRANT: Grant = { expiresAt: Infinity, all: true, subscribe: new PatternSet([]), publish: new PatternSet([]) }

/** Grant patterns with `{sub}` segments filled in; a pattern that needs a `sub` the token lacks (or one that is not a segment) is dropped. */
export function expandGrant(patterns: readonly string[], sub: string | undefined): string[] {
  const usable = sub !== undefined && SEGMENT.test(sub)
  return patterns.flatMap((p) => {
    const segs = p.split('/')
    if (!segs.includes(SUB_PLACEHOLDER)) return [p]
    return usable ? [segs.map((s) => (s === SUB_PLACEHOLDER ? sub : s)).join('/')] : []
  })
}

export class Access {
  private readonly privateSet: PatternSet

  constructor(readonly privatePatterns: readonly string[]) {
    this.privateSet = new PatternSet(privatePatterns)
  }

  isPrivate(topic: string): boolean {
    return this.privatePatterns.length > 0 && this.privateSet.matches(topic)
  }

  /** May this grant read this topic? Public topics: anyone. */
  mayRead(grant: Grant | undefined, topic: string): boolean {
    return !this.isPrivate(topic) || (grant !== undefined && (grant.all || grant.subscribe.matches(topic)))
  }

  /** Does this grant name the topic, public or private? (What presence needs: who is in a room is not public.) */
  grants(grant: Grant | undefined, topic: string): boolean {
    return grant !== undefined && (grant.all || grant.subscribe.matches(topic))
  }

  /** These patterns as this grant may read them: private topics it does not cover never match. */
  readable(patterns: readonly string[], grant: Grant | undefined): PatternSet {
    return new PatternSet(patterns, (topic) => this.mayRead(grant, topic))
  }

  /**
   * Refuses, before anything is sent, a subscription with a pattern that can
   * match only private topics (it lies inside one of PRIVATE_TOPICS) none of
   * which the grant covers. A broader pattern is accepted and filtered per event.
   */
  assertMaySubscribe(grant: Grant | undefined, patterns: readonly string[]): void {
    if (grant?.all) return
    for (const p of patterns) {
      if (!this.privatePatterns.some((priv) => covers(priv, p))) continue
      if (grant?.subscribe.patterns.some((g) => overlaps(g, p))) continue
      throw new FeedError(
        'forbidden',
        `"${p.slice(0, 300)}" holds only private topics, and ${grant ? 'this token grants none of them' : 'reading them needs a token'}`,
      )
    }
  }

  /** Refuses a publish batch unless the grant covers every topic in it (nothing of the batch is stored). */
  assertMayPublish(grant: Grant, topics: readonly string[]): void {
    if (grant.all) return
    const denied = topics.find((t) => !grant.publish.matches(t))
    if (denied !== undefined) throw new FeedError('forbidden', `this token may not publish to "${denied.slice(0, 300)}"`)
  }
}
