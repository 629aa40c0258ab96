import { byId, el, flash } from './dom.ts'
import type { Score } from './schemas.ts'

const STATUS_TEXT = { scheduled: 'Scheduled', live: 'Live', final: 'Final' } as const

/** The scoreboard: one card per game, grouped by league, with a league filter. */
export class Scoreboard {
  private readonly games = new Map<string, Score>()
  private readonly root = byId('scoreboard')
  private readonly filter = byId<HTMLSelectElement>('league-filter')
  private readonly announcer = byId('announcer')

  constructor() {
    this.filter.addEventListener('change', () => this.render())
  }

  clear(): void {
    this.games.clear()
    this.render()
  }

  /** A score from the snapshot: shown, not announced. */
  load(s: Score): void {
    this.games.set(`${s.league}/${s.game}`, s)
  }

  /** A live score: shown, highlighted, and announced if it changed. */
  update(s: Score): void {
    const key = `${s.league}/${s.game}`
    const prev = this.games.get(key)
    this.games.set(key, s)
    this.render()
    const changed = !prev || prev.home.score !== s.home.score || prev.away.score !== s.away.score || prev.status !== s.status
    if (!changed) return
    const card = this.root.querySelector<HTMLElement>(`[data-game="${CSS.escape(key)}"]`)
    if (card) flash(card)
    this.announcer.textContent = `${s.home.team} ${s.home.score}, ${s.away.team} ${s.away.score}${s.status === 'final' ? ', final' : ''} (${s.league.toUpperCase()})`
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
    return el(
      'li',
      { class: 'game', 'data-game': `${s.league}/${s.game}` },
      team('home'),
      team('away'),
      el('div', { class: 'meta' }, el('span', { class: `status status-${status}` }, STATUS_TEXT[status]), el('span', {}, status === 'live' ? when : '')),
    )
  }

  private syncLeagues(): void {
    const have = new Set([...this.filter.options].map((o) => o.value))
    for (const league of new Set([...this.games.values()].map((g) => g.league))) {
      if (!have.has(league)) this.filter.append(el('option', { value: league }, league.toUpperCase()))
    }
  }
}
