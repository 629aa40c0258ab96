import { sign } from 'hono/jwt'

/** Two secrets, as during a rotation: tokens signed with either are accepted. */
export const SECRETS = ['s'.repeat(40), 't'.repeat(40)] as const
export const PUBLISH_TOKEN = 'publish-token-for-tests'
export const TOKEN_ENV = { TOKEN_SECRET: SECRETS.join(','), PUBLISH_TOKEN }

const now = () => Math.floor(Date.now() / 1000)
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')

/** A valid token: `exp` seconds from now (default an hour), signed with one of the secrets. */
export function mint(claims: { sub?: string; subscribe?: string[]; publish?: string[] }, opts: { ttlS?: number; secret?: string } = {}): Promise<string> {
  return sign({ exp: now() + (opts.ttlS ?? 3600), ...claims }, opts.secret ?? SECRETS[1], 'HS256')
}

/** Tokens the server must refuse, each for a different reason. */
export async function badTokens(): Promise<Record<string, string>> {
  const claims = { sub: 'alice', subscribe: ['private/**'] }
  const valid = await mint(claims)
  const [, payload] = valid.split('.')
  return {
    'wrong secret': await mint(claims, { secret: 'x'.repeat(40) }),
    expired: await sign({ exp: now() - 10, ...claims }, SECRETS[0], 'HS256'),
    'no exp': await sign(claims, SECRETS[0], 'HS256'),
    'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    'RS256 header': `${b64({ alg: 'RS256', typ: 'JWT' })}.${payload}.${valid.split('.')[2]}`,
    'tampered payload': `${valid.split('.')[0]}.${b64({ exp: now() + 3600, sub: 'mallory', subscribe: ['**'] })}.${valid.split('.')[2]}`,
    malformed: 'not-a-jwt',
  }
}
