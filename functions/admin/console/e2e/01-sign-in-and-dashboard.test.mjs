import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  adminApi,
  ageSession,
  demoOwner,
  OWNER_PASSWORD,
  rememberOwnerPassword,
  eventually,
  freshCode,
  useBrowser,
  newPage,
  screenshot,
  sessionOf,
  shoppersVisit,
  shopUrl,
  signInAsOwner,
} from './browser.mjs'

const browser = useBrowser()

function chinaDay(at) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(at)
}

test('the demo owner signs in with a code, sets a password and sees the funnel the reports API gives', async () => {
  // given the demo owner with its one-time password and TOTP secret
  const owner = demoOwner()
  const { page, problems } = await newPage(browser())

  // when they open the console, sign in with the password and then the code
  await page.goto(`${shopUrl}/console/`)
  await page.getByLabel('用户名').fill(owner.username)
  await page.getByLabel('密码').fill(owner.password)
  await screenshot(page, 'sign-in')
  await page.getByRole('button', { name: '登录' }).click()
  await page.getByLabel(/动态码/).fill(await freshCode(owner.totpSecret))
  await page.getByRole('button', { name: '验证并登录' }).click()

  // then they must choose a password of their own first
  await page.getByText('设置新密码').waitFor()
  await page.getByLabel('当前密码').fill(owner.password)
  await page.getByLabel('新密码').fill(OWNER_PASSWORD)
  await page.getByRole('button', { name: '保存并继续' }).click()
  rememberOwnerPassword()

  // and after a scripted run of shoppers, once the reports have counted it
  await page.getByRole('heading', { name: '数据看板' }).waitFor()
  const session = await sessionOf(page)
  assert.equal(session.staff.username, owner.username)
  const script = await shoppersVisit(4, 'console-dashboard')
  const now = Date.now()
  const from = chinaDay(now - 6 * 86_400_000)
  const to = chinaDay(now)
  const funnel = () => adminApi(session.token, 'GET', `/admin/v1/reports/funnel?from=${from}&to=${to}`)
  const count = (report, step) => report.body.steps.find((s) => s.step === step)?.count ?? 0
  const report = await eventually(
    funnel,
    (r) =>
      r.status === 200 &&
      count(r, 'Visit') >= script.visits &&
      count(r, 'ProductViewed') >= script.views &&
      count(r, 'CartAdd') >= script.cartAdds,
  )

  // the dashboard's funnel shows exactly the counts the reports API answers
  await page.reload()
  await page.locator('[data-test="step-Visit"]').waitFor()
  await page.locator('[data-test="funnel-chart"] canvas').waitFor()
  for (const step of report.body.steps) {
    const shown = await page.locator(`[data-test="step-${step.step}"]`).innerText()
    assert.equal(Number(shown), step.count, step.step)
  }
  assert.equal(await page.locator('[data-test="summary-visitors"]').innerText(), String(report.body.visitors))
  await page.locator('.summary[data-loading="no"]').waitFor()
  await screenshot(page, 'dashboard')
  assert.deepEqual(problems, [])

  // and signing out brings back the sign-in page, with the session gone from the tab
  await page.getByRole('button', { name: '退出登录' }).click()
  await page.getByRole('heading', { name: '商家后台登录' }).waitFor()
  assert.equal(await sessionOf(page), null)
})

test('a session that lapses while the page is open goes back to sign-in, saying so, and signs in again', async () => {
  // given the owner signed in on the products page, its list shown
  const { page, problems } = await newPage(browser())
  const session = await signInAsOwner(page)
  await page.getByRole('menuitem', { name: '商品' }).click()
  await page.locator('[data-test="products"] .el-table__row').first().waitFor()

  // when the session's hours run out and they go on to another page
  await ageSession(session.token, { lapse: true })
  await page.getByRole('menuitem', { name: '订单' }).click()

  // then the console is back at sign-in with the reason, the session gone from the tab
  await page.getByText('登录已过期，请重新登录').waitFor()
  await screenshot(page, 'session-expired')
  assert.equal(await sessionOf(page), null)
  assert.equal(await page.locator('[data-test="orders"]').count(), 0)

  // and signing in again opens the shop's pages as before
  await signInAsOwner(page)
  await page.getByRole('menuitem', { name: '商品' }).click()
  await page.locator('[data-test="products"] .el-table__row').first().waitFor()
  assert.deepEqual(problems, [])
})
