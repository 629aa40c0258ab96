import { createRequire } from 'node:module'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { textFrame } from '../../src/runtime/node-frames.ts'

// The frame Node writes to every socket, built once per event: read back by ws' own Receiver (which @types/ws
// does not declare as an ES export), at each of the three length encodings of RFC 6455.
interface Receiver {
  on(event: 'message', fn: (data: Buffer, isBinary: boolean) => void): void
  on(event: 'error', fn: (err: Error) => void): void
  write(chunk: Buffer): void
}
const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (opts: { isServer: boolean }) => Receiver }
test('a pre-built frame is an unmasked final text frame that ws reads back as the same text', async () => {
  for (const size of [10, 125, 126, 65_535, 65_536, 200_000]) {
    const text = 'é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2)
    const frame = textFrame(text)
    assert.is(frame[0], 0x81, 'FIN and opcode 1 (text)')
    assert.is(frame[1]! & 0x80, 0, 'unmasked, as a server must send')
    const header = size < 126 ? 2 : size < 65_536 ? 4 : 10
    assert.is(frame.length, header + Buffer.byteLength(text), `${size}: header of ${header} bytes`)
    const receiver = new Receiver({ isServer: false })
    const got = await new Promise<string>((resolve, reject) => {
      receiver.on('message', (data: Buffer, isBinary: boolean) => (isBinary ? reject(new Error('binary')) : resolve(data.toString())))
      receiver.on('error', reject)
      receiver.write(frame)
    })
    assert.is(got, text)
  }
})

test.run()
