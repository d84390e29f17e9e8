// The browser the console is tested in: Debian's Chromium, headless, driven by playwright-core.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before } from 'node:test'
import { chromium } from 'playwright-core'
import { totp } from './totp.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
export const shopUrl = process.env.SHOP_URL ?? 'http://127.0.0.1:3000'
const screenshots = join(root, 'target/console-screenshots')

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

/**
 * One browser for a test file, launched before its tests and closed after them (`cleanUp` runs
 * first, for what a file switched on): `browser()` is it.
 */
export function useBrowser(cleanUp = async () => {}) {
  let browser
  before(async () => {
    browser = await launch()
  })
  after(async () => {
    await cleanUp()
    await browser?.close()
  })
  return () => browser
}

/** A page of a fresh browser context, failing the test on any error the console logs. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return
    // Refusals (4xx) are answers the pages show; demo product photos live on hosts this
    // machine may not reach.
    const refused = msg.text().includes('the server responded with a status of 4')
    const elsewhere = msg.text().startsWith('Failed to load resource') && !msg.location().url.startsWith(shopUrl)
    if (!refused && !elsewhere) problems.push(`console error: ${msg.text()} (${msg.location().url})`)
  })
  return { page, problems }
}

export async function screenshot(page, name) {
  mkdirSync(screenshots, { recursive: true })
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true })
}

/** The demo owner `make dev` (and the console tests' own stack) made. */
export function demoOwner() {
  const file = process.env.CONSOLE_OWNER_FILE ?? join(root, '.local/demo-owner.json')
  return JSON.parse(readFileSync(file, 'utf8'))
}

/**
 * A code the shop has not seen yet: sign-ins in the same 30 seconds would repeat one, and the
 * shop takes each code once. Steps used are kept beside the owner file; the next one is taken
 * (waiting for it when two steps ahead).
 */
export async function freshCode(secret) {
  const file = `${process.env.CONSOLE_OWNER_FILE ?? join(root, '.local/demo-owner.json')}.steps`
  const used = existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0
  for (;;) {
    const now = Math.floor(Date.now() / 30_000)
    const step = Math.max(now, used + 1)
    if (step <= now + 1) {
      writeFileSync(file, String(step))
      return totp(secret, step * 30_000)
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
}

export { totp }

/** A call to the admin API outside the browser (to compare with what the page shows). */
export async function adminApi(token, method, path, body) {
  const answer = await fetch(shopUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await answer.text()
  return { status: answer.status, body: text ? JSON.parse(text) : null }
}

/**
 * The local shop's control over a staff session's clock (never in AWS): `{steppedUpAgo: 600}`
 * makes its last code ten minutes old, `{lapse: true}` ends it as its hours running out would.
 */
export async function ageSession(token, change) {
  const answer = await fetch(`${shopUrl}/__local/staff-session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, ...change }),
  })
  if (!answer.ok) throw new Error(`aging the session: ${answer.status} ${await answer.text()}`)
}

/** The session the console keeps in the tab. */
export async function sessionOf(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('shop-console-session') ?? 'null'))
}

/** A call to the shoppers' API as the mini-program makes it; throws on anything but 2xx. */
export async function shopper(method, path, token, body, headers = {}) {
  const answer = await fetch(shopUrl + path, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await answer.text()
  if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${text}`)
  return text ? JSON.parse(text) : null
}

/**
 * A scripted day in the shop: `visitors` shoppers sign in (a visit each, from a share link's
 * scene for every other one), look at a product and put one in the cart. What the reports
 * should then count.
 */
export async function shoppersVisit(visitors, tag) {
  const listing = await shopper('GET', '/v1/products?limit=1')
  const productId = listing.items[0].id
  const product = await shopper('GET', `/v1/products/${productId}`)
  const skuId = product.skus[0].id
  for (let i = 0; i < visitors; i++) {
    const scene = i % 2 === 0 ? { 'x-wx-scene': '1007' } : {}
    const { token } = await shopper('POST', '/v1/auth/login', undefined, { code: `${tag}-${i}.1` }, scene)
    await shopper('GET', `/v1/products/${productId}`, token, undefined, scene)
    await shopper('POST', '/v1/cart/items', token, { skuId, quantity: 1 }, scene)
  }
  return { visits: visitors, views: visitors, cartAdds: visitors }
}

/** Polls `read` until `done(value)` holds (the reports consumer adds lines every second). */
export async function eventually(read, done, seconds = 30) {
  const until = Date.now() + seconds * 1000
  let value = await read()
  while (!done(value)) {
    if (Date.now() > until) throw new Error(`still ${JSON.stringify(value)} after ${seconds} s`)
    await new Promise((r) => setTimeout(r, 500))
    value = await read()
  }
  return value
}

/** The password the console tests give the demo owner in place of its one-time one. */
export const OWNER_PASSWORD = 'Demo-owner-console-1'

function ownerPasswordFile() {
  return `${process.env.CONSOLE_OWNER_FILE ?? join(root, '.local/demo-owner.json')}.changed`
}

export function rememberOwnerPassword() {
  writeFileSync(ownerPasswordFile(), OWNER_PASSWORD)
}

/** The demo owner's password now: the one-time one until a test changed it (through the API if no test did). */
export async function ownerPassword() {
  if (existsSync(ownerPasswordFile())) return OWNER_PASSWORD
  const owner = demoOwner()
  const signed = await shopper('POST', '/admin/v1/auth/sign-in', undefined, {
    username: owner.username,
    password: owner.password,
    code: await freshCode(owner.totpSecret),
  })
  await shopper('POST', '/admin/v1/me/password', signed.token, {
    currentPassword: owner.password,
    newPassword: OWNER_PASSWORD,
  })
  rememberOwnerPassword()
  return OWNER_PASSWORD
}

/** Signs `username` in through the console's own page (with a code when `secret` is given). */
export async function signIn(page, username, password, secret) {
  await page.goto(`${shopUrl}/console/#/sign-in`)
  await page.getByLabel('用户名').fill(username)
  await page.getByLabel('密码').fill(password)
  await page.getByRole('button', { name: '登录' }).click()
  if (secret) {
    await page.getByLabel(/动态码/).fill(await freshCode(secret))
    await page.getByRole('button', { name: '验证并登录' }).click()
  }
  await page.getByRole('button', { name: '退出登录' }).waitFor()
  return sessionOf(page)
}

/** The demo owner, signed in to the console. */
export async function signInAsOwner(page) {
  const password = await ownerPassword()
  return signIn(page, demoOwner().username, password, demoOwner().totpSecret)
}

export const sandboxUrl = process.env.SANDBOX_URL ?? 'http://127.0.0.1:3001'

async function sandbox(path, body) {
  const answer = await fetch(sandboxUrl + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!answer.ok) throw new Error(`${path}: ${answer.status} ${await answer.text()}`)
  return answer.json()
}

/** Kuaidi100's label API down (true) or back (false). */
export function courierOutage(down) {
  return sandbox('/__sandbox/kuaidi100/outage', { down })
}

/** A shopper's order of one `skuId`, paid through the WeChat Pay sandbox: its id and token. */
export async function paidOrder(tag, skuId) {
  const { token } = await shopper('POST', '/v1/auth/login', undefined, { code: `${tag}.1` })
  const placed = await shopper(
    'POST',
    '/v1/orders',
    token,
    {
      items: [{ skuId, quantity: 1 }],
      address: { name: '李四', phone: '13912345678', province: '浙江省', city: '杭州市', district: '西湖区', detail: '文三路 90 号' },
    },
    { 'idempotency-key': `${tag}-order` },
  )
  const id = placed.order.id
  await sandbox('/__sandbox/wechatpay/pay', { outTradeNo: id })
  await eventually(
    () => shopper('GET', `/v1/orders/${id}`, token),
    (order) => order.status === 'PAID',
  )
  return { id, token }
}

/** The order as its shopper sees it. */
export function shoppersOrder(id, token) {
  return shopper('GET', `/v1/orders/${id}`, token)
}

/** The shopper sends a shipped order back (its return waybill) and asks for the money (退货退款). */
export async function sendBackAndAskRefund(id, token, reason) {
  await shopper('POST', `/v1/orders/${id}/return`, token, { company: 'zhongtong', number: `ZTR${Date.now()}` })
  return shopper('POST', `/v1/orders/${id}/refund`, token, {
    reason,
    kind: 'return_and_refund',
    description: '收到的茶叶受潮结块',
  })
}
