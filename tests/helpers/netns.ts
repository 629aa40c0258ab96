import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'

/**
 * A test host of our own: a network namespace joined to this one by a veth
 * pair, on a /30 nothing else uses. Traffic between the two ends never leaves
 * this machine. Needs root (CAP_NET_ADMIN), which every machine of this project has.
 */
export interface TestHost {
  /** This side's address: bind the server here. */
  hostIp: string
  /** The namespace's address: what the server sees as the client. */
  clientIp: string
  /** Runs a command inside the namespace. */
  run(cmd: string, args: string[]): Promise<string>
  destroy(): void
}

export function createTestHost(): TestHost {
  if (process.getuid?.() !== 0) throw new Error('this test needs root to create a network namespace (every livefeed machine and CI runs as root)')
  const id = `lf${process.pid % 100000}`
  const [ns, outer, inner] = [id, `${id}h`, `${id}n`]
  const hostIp = '10.231.77.1'
  const clientIp = '10.231.77.2'
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' })
  try {
    ip('netns', 'del', ns)
  } catch {
    // none left over
  }
  ip('netns', 'add', ns)
  ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner)
  ip('link', 'set', inner, 'netns', ns)
  ip('addr', 'add', `${hostIp}/30`, 'dev', outer)
  ip('link', 'set', outer, 'up')
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${clientIp}/30`, 'dev', inner)
  ip('netns', 'exec', ns, 'ip', 'link', 'set', inner, 'up')
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  return {
    hostIp,
    clientIp,
    run: async (cmd, args) => (await promisify(execFile)('ip', ['netns', 'exec', ns, cmd, ...args])).stdout,
    destroy: () => ip('netns', 'del', ns), // removes the veth pair with it
  }
}
