/**
 * @module
 * `static/chat.html`: a chat room per game, beside the scores, on the SDK. Messages are events on
 * `chat/<league>/<game>/<sub>`: the token grants each user publishing under its own `sub` only
 * (`chat/*\/*\/{sub}`), so the sender's name is the topic's last segment and cannot be forged. The room opens
 * with its last 50 messages (`rewind`), typing is shown from `typing/<league>/<game>/<sub>`, an ephemeral
 * topic (EPHEMERAL_TOPICS), and the game's score from `scores/<league>/<game>`. The token comes in the page's
 * fragment (`#token=…`, never sent to a server); `npm run demo` prints such links.
 */
import * as v from 'valibot'
import { connect, type FeedEvent, type FeedState } from '../client/index.ts'
import { byId, el } from '../dashboard/dom.ts'
import { scoreSchema } from '../dashboard/schemas.ts'
import { SEGMENT } from '../protocol/grammar.ts'

/** Messages the room opens with. */
const REWIND = 50
/** A typing indicator lasts this long after its last event. */
const TYPING_MS = 3000
const STATE_TEXT: Record<FeedState, string> = { connecting: 'Connecting', open: 'Live', reconnecting: 'Reconnecting', closed: 'Disconnected' }

const messageSchema = v.object({ text: v.pipe(v.string(), v.minLength(1), v.maxLength(500)) })

/** The token's `sub` (the page's user), read from its payload; the server checks the signature, not the page. */
function subOf(token: string): string | undefined {
  try {
    const payload: unknown = JSON.parse(atob(token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/')))
    return typeof payload === 'object' && payload !== null && 'sub' in payload && typeof payload.sub === 'string' ? payload.sub : undefined
  } catch {
    return undefined
  }
}

const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? undefined
const me = token === undefined ? undefined : subOf(token)
const asked = new URLSearchParams(location.search).get('room') ?? 'nba/lal-bos'
const room = asked.split('/').length === 2 && asked.split('/').every((s) => SEGMENT.test(s)) ? asked : 'nba/lal-bos'

byId('room-title').textContent = `Room ${room}`
byId('me').textContent = me ? `· you are ${me}` : '· read only (no token)'
const form = byId<HTMLFormElement>('say-form')
const input = byId<HTMLInputElement>('say-input')
input.disabled = me === undefined
const messages = byId<HTMLOListElement>('messages')
const shown = new Set<string>()

const feed = connect(location.origin, {
  topics: [`chat/${room}/*`, `typing/${room}/*`, `scores/${room}`],
  rewind: REWIND,
  ...(token !== undefined ? { getToken: () => token } : {}),
})

function show(e: FeedEvent): void {
  if (e.topic.startsWith('scores/')) {
    const s = v.safeParse(scoreSchema, e.data)
    if (s.success) byId('room-score').textContent = `${s.output.home.team} ${s.output.home.score} – ${s.output.away.score} ${s.output.away.team}`
    return
  }
  const m = v.safeParse(messageSchema, e.data)
  if (!m.success || shown.has(e.id)) return
  shown.add(e.id)
  const from = e.topic.split('/').at(-1)!
  typingSince.delete(from)
  messages.append(
    el(
      'li',
      { class: from === me ? 'message mine' : 'message', 'data-id': e.id },
      el('span', { class: 'from' }, from),
      el('span', { class: 'text' }, m.output.text),
    ),
  )
  messages.scrollTop = messages.scrollHeight
  renderTyping()
}

const typingSince = new Map<string, number>()
function renderTyping(): void {
  const now = Date.now()
  for (const [who, at] of typingSince) if (now - at > TYPING_MS) typingSince.delete(who)
  const who = [...typingSince.keys()]
  byId('typing').textContent = who.length === 0 ? '' : `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`
}
setInterval(renderTyping, 1000)

feed.on('snapshot', ({ events }) => {
  for (const e of events) show(e)
})
feed.on('event', show)
feed.on('reset', () => {
  messages.replaceChildren()
  shown.clear()
})
feed.on('ephemeral', (e) => {
  const from = e.topic.split('/').at(-1)!
  if (from === me || !e.topic.startsWith('typing/')) return
  typingSince.set(from, Date.now())
  renderTyping()
})
feed.on('status', ({ state }) => {
  byId('badge').dataset.state = state
  byId('badge-state').textContent = STATE_TEXT[state]
})

let lastTyping = 0
input.addEventListener('input', () => {
  if (me === undefined || Date.now() - lastTyping < 1000) return
  lastTyping = Date.now()
  feed.publish(`typing/${room}/${me}`, { typing: true }).catch(() => {})
})
form.addEventListener('submit', (ev) => {
  ev.preventDefault()
  const text = input.value.trim()
  if (me === undefined || text === '') return
  byId('chat-error').textContent = ''
  feed.publish(`chat/${room}/${me}`, { text }).then(
    () => (input.value = ''),
    (err: unknown) => (byId('chat-error').textContent = `Not sent: ${err instanceof Error ? err.message : String(err)}`),
  )
})
