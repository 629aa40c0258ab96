/**
 * The soak's load balancer, in a process of its own so that relaying every byte does not compete with the
 * soak's clients: the round-robin proxy of tests/helpers/proxy.ts. argv[2] is the JSON list of backend ports;
 * each line on stdin replaces it. Prints `{"port":N}` once listening.
 */
import { createInterface } from 'node:readline'
import { startProxy } from '../helpers/proxy.ts'

let ports = JSON.parse(process.argv[2] ?? '[]') as number[]
const proxy = await startProxy(() => ports)
createInterface({ input: process.stdin }).on('line', (line) => (ports = JSON.parse(line) as number[]))
process.stdout.write(`${JSON.stringify({ port: proxy.port })}\n`)
