// How the console writes money and time: amounts arrive as integer fen and are shown in yuan
// with two decimals (never through floating point); instants are shown in China time, whatever
// the browser's own zone.

const CHINA = 'Asia/Shanghai'

/** ¥1,234.50 from 123450 fen; negative amounts keep their sign in front. */
export function yuan(fen: number): string {
  if (!Number.isSafeInteger(fen)) return '—'
  const sign = fen < 0 ? '-' : ''
  const abs = Math.abs(fen)
  const whole = Math.floor(abs / 100)
  const cents = abs % 100
  return `${sign}¥${whole.toLocaleString('en-US')}.${String(cents).padStart(2, '0')}`
}

/** 1234.50 from 123450 fen: a price as a merchant edits it, read back by parseYuan. */
export function yuanDigits(fen: number): string {
  if (!Number.isSafeInteger(fen) || fen < 0) return ''
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`
}

function parts(at: Date): Record<string, string> {
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone: CHINA,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  })
  return Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]))
}

/** 2026-12-03 20:15 (China time) from epoch seconds. */
export function chinaTime(epochSeconds: number): string {
  const p = parts(new Date(epochSeconds * 1000))
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`
}

/** The China day (2026-12-03) an instant falls on. */
export function chinaDay(at: Date): string {
  const p = parts(at)
  return `${p.year}-${p.month}-${p.day}`
}

/** The China days from `days - 1` days before `today` through it, as the reports take them. */
export function lastDays(days: number, now: Date = new Date()): { from: string; to: string } {
  const to = chinaDay(now)
  const from = chinaDay(new Date(now.getTime() - (days - 1) * 86_400_000))
  return { from, to }
}

/** 12.5% from 125 permille; a step with nothing before it has no rate. */
export function permille(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—'
  return `${Math.floor(value / 10)}.${value % 10}%`
}

/** 138****5678 stays as the API masked it; an empty value is a dash. */
export function orDash(text: string | null | undefined): string {
  return text && text.length > 0 ? text : '—'
}

/** Fen from what a merchant types as yuan ("128", "128.5", "¥1,280.00"); null when it is not. */
export function parseYuan(text: string): number | null {
  const cleaned = text.trim().replace(/^¥/, '').replace(/,/g, '')
  const match = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(cleaned)
  if (!match) return null
  const cents = (match[2] ?? '').padEnd(2, '0')
  return Number(match[1]) * 100 + Number(cents)
}

/** 规格：250克，颜色：红 from a SKU's specs. */
export function specsText(specs: Record<string, string> | undefined): string {
  return Object.entries(specs ?? {})
    .map(([k, v]) => `${k}：${v}`)
    .join('，')
}
