/**
 * @module
 * The dashboard's typed publishers, mounted as an extension: `POST /api/scores`
 * stores a game on `scores/<league>/<game>`, `POST /api/quotes` one quote or a
 * batch on `stocks/<symbol>`. The generic server knows nothing of either.
 */
import type { Mount } from '../http/api.ts'
import { oneOrMany } from '../protocol/http.ts'
import { quoteSchema, scoreSchema } from './schemas.ts'

export const dashboardPublishers: Mount = ({ publisher, feed }) => {
  publisher('/api/scores', { summary: "Publish a game's score", description: 'Stored on `scores/<league>/<game>`.', body: scoreSchema }, (s) => [
    { topic: `scores/${s.league}/${s.game}`, data: s },
  ])
  publisher(
    '/api/quotes',
    {
      summary: 'Publish quotes',
      description: 'One quote or a batch; each is stored on `stocks/<symbol>`.',
      body: oneOrMany(quoteSchema, feed.limits.maxBatch),
    },
    (b) => (Array.isArray(b) ? b : [b]).map((q) => ({ topic: `stocks/${q.symbol}`, data: q })),
  )
}
