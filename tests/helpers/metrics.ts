import { parseMetrics, Scrape } from '../../src/ops/prometheus.ts'
import { request } from './http.ts'

/** One scrape of a server's /metrics, read with the operators' page's own parser. */
export async function scrape(base: string): Promise<Scrape> {
  return new Scrape(parseMetrics((await request<string>(`${base}/metrics`)).body), Date.now())
}

/** The sum of a metric's samples whose labels include `labels` (0 when there is none yet). */
export async function metricSum(base: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await scrape(base)).sum(name, labels)
}
