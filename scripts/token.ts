// `npm run token` and `deno task token`: see src/tools/token.ts.
import process from 'node:process'
import { ConfigError } from '../src/config.ts'
import { token } from '../src/tools/token.ts'

try {
  console.log(await token(process.argv.slice(2), process.env))
} catch (err) {
  if (!(err instanceof ConfigError) && !(err instanceof TypeError)) throw err
  // A bad argument (parseArgs throws TypeError with its code) or setting: one line, exit 1.
  console.error(`token: ${err.message}`)
  process.exit(1)
}
