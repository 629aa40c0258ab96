import { compareCursors } from '../protocol/cursor.ts'
import { byId, el, flash } from './dom.ts'
import type { Score } from './schemas.ts'

const STATUS_TEXT = { scheduled: 'Scheduled', live: 'Live', final: 'Final' } as const
/** Score changes a card lists under the score. */
const RECENT = 3

/** One change of a game's score, as the card lists it. */
interface Change {
  /** The event's cursor: the same event seen twice (a snapshot of a topic added later) is listed once. */
  id: string
  home: number
  away: number
}

/** The scoreboard: one card per game, grouped by league, with a league filter, its last score changes and how many watch it. */
export class Scoreboard {
  private readonly games = new Map<string, Score>()
  private readonly changes = new Map<string, Change[]>()
  private readonly watching = new Map<string, number>()
  private readonly root = byId('scoreboard')
  private readonly filter = byId<HTMLSelectElement>('league-filter')
  private readonly announcer = byId('announcer')

  constructor() {
    this.filter.addEventListener('change', () => this.render())
  }

  clear(): void {
    this.games.clear()
    this.changes.clear()
    this.render()
  }

  /** Games on the board, by key (`league/game`, the topic's tail). */
  keys(): string[] {
    return [...this.games.keys()]
  }

  /** How many watch a game (its topic's occupancy, over every instance). */
  watchers(key: string, n: number): void {
    this.watching.set(key, n)
    const node = this.root.querySelector<HTMLElement>(`[data-game="${CSS.escape(key)}"] .watching`)
    if (node) {
      node.dataset.watching = String(n)
      node.textContent = watchingText(n)
    }
  }

  /** A score from the snapshot (with `rewind`, several of one game, oldest first): shown, not announced. */
  load(s: Score, id: string): void {
    const key = `${s.league}/${s.game}`
    this.note(key, s, id)
    this.games.set(key, s)
  }

  /** A live score: shown, highlighted, and announced if it changed. */
  update(s: Score, id: string): void {
    const key = `${s.league}/${s.game}`
    const prev = this.games.get(key)
    this.note(key, s, id)
    this.games.set(key, s)
    this.render()
    const changed = !prev || prev.home.score !== s.home.score || prev.away.score !== s.away.score || prev.status !== s.status
    if (!changed) return
    const card = this.root.querySelector<HTMLElement>(`[data-game="${CSS.escape(key)}"]`)
    if (card) flash(card)
    this.announcer.textContent = `${s.home.team} ${s.home.score}, ${s.away.team} ${s.away.score}${s.status === 'final' ? ', final' : ''} (${s.league.toUpperCase()})`
  }

  /** Lists a score that differs from the last one listed (a clock tick alone is not a change). */
  private note(key: string, s: Score, id: string): void {
    const list = this.changes.get(key) ?? []
    const last = list.at(-1)
    // A snapshot may hold events already noted (one with rewind, after a reset): only newer ones count.
    if (last && (compareCursors(id, last.id) ?? 1) <= 0) return
    if (last && last.home === s.home.score && last.away === s.away.score) return
    list.push({ id, home: s.home.score, away: s.away.score })
    this.changes.set(key, list.slice(-RECENT - 1))
  }

  render(): void {
    this.syncLeagues()
    const chosen = this.filter.value
    const leagues = new Map<string, Score[]>()
    for (const s of this.games.values()) {
      if (chosen && s.league !== chosen) continue
      leagues.set(s.league, [...(leagues.get(s.league) ?? []), s])
    }
    if (leagues.size === 0) {
      this.root.replaceChildren(el('p', { class: 'empty' }, this.games.size ? 'No games in this league.' : 'No games yet.'))
      return
    }
    this.root.replaceChildren(
      ...[...leagues.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([league, games]) =>
          el(
            'section',
            { class: 'league', 'data-league': league, 'aria-label': league.toUpperCase() },
            el('h3', {}, league.toUpperCase()),
            el('ul', { class: 'games' }, ...games.sort((a, b) => a.game.localeCompare(b.game)).map((g) => this.card(g))),
          ),
        ),
    )
  }

  private card(s: Score): HTMLElement {
    const status = s.status ?? 'live'
    const when = [s.period !== undefined ? `P${s.period}` : '', s.clock ?? ''].filter(Boolean).join(' ')
    const team = (side: 'home' | 'away') =>
      el(
        'div',
        { class: `team ${side}` },
        el('span', { class: 'name' }, s[side].team),
        el('span', { class: 'score', 'data-side': side }, String(s[side].score)),
      )
    const key = `${s.league}/${s.game}`
    // The changes before the current score, newest first: how the game got here.
    const before = (this.changes.get(key) ?? []).slice(0, -1).reverse().slice(0, RECENT)
    const n = this.watching.get(key)
    return el(
      'li',
      { class: 'game', 'data-game': key },
      team('home'),
      team('away'),
      el('div', { class: 'meta' }, el('span', { class: `status status-${status}` }, STATUS_TEXT[status]), el('span', {}, status === 'live' ? when : '')),
      el(
        'div',
        { class: 'meta' },
        el(
          'span',
          { class: 'recent', 'data-changes': String(before.length), 'aria-label': 'Earlier scores' },
          before.map((c) => `${c.home}–${c.away}`).join(' · '),
        ),
        el('span', { class: 'watching', 'data-watching': n === undefined ? '' : String(n) }, n === undefined ? '' : watchingText(n)),
        el('a', { class: 'chat-link', href: `/chat.html?room=${encodeURIComponent(s.league)}/${encodeURIComponent(s.game)}` }, 'Chat'),
      ),
    )
  }

  private syncLeagues(): void {
    const have = new Set([...this.filter.options].map((o) => o.value))
    for (const league of new Set([...this.games.values()].map((g) => g.league))) {
      if (!have.has(league)) this.filter.append(el('option', { value: league }, league.toUpperCase()))
    }
  }
}

function watchingText(n: number): string {
  return `${n} watching`
}
