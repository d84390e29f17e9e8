// The browser the console is tested in: Debian's Chromium, headless, driven by playwright-core.
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
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

/** A page of a fresh browser context, failing the test on any error the console logs. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().includes('the server responded with a status of 4')) {
      problems.push(`console error: ${msg.text()}`)
    }
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

/** The session the console keeps in the tab. */
export async function sessionOf(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('shop-console-session') ?? 'null'))
}

async function shopper(method, path, token, body, headers = {}) {
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
