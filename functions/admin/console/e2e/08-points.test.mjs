import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminApi, eventually, newPage, screenshot, sessionOf, shopper, signInAsOwner, useBrowser } from './browser.mjs'

const browser = useBrowser()

/** Wall-clock text in China time, `minutes` from now: what the console's pickers take. */
function chinaClock(minutes) {
  const at = new Date(Date.now() + minutes * 60_000 + 8 * 3_600_000)
  return at.toISOString().slice(0, 16).replace('T', ' ')
}

function chinaDay(at) {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(at)
}

const address = {
  name: '李四',
  phone: '13912345678',
  province: '浙江省',
  city: '杭州市',
  district: '西湖区',
  detail: '文三路 100 号',
}

test('a task and a points-mall gift set in the console earn and spend a shopper’s points, counted on the dashboard', async () => {
  // given the owner on the promotions page's 积分任务 tab, with the demo shop's tasks
  const { page, problems } = await newPage(browser())
  await signInAsOwner(page)
  await page.getByRole('menuitem', { name: '营销' }).click()
  await page.getByRole('tab', { name: '积分任务' }).click()
  await page.locator('[data-test="task-view-product"]', { hasText: '5 积分 · 每天 3 次 · 浏览 15 秒' }).waitFor()

  // when they give binding a phone 40 points
  await page.locator('[data-test="edit-task-bind-phone"]').click()
  const taskDialog = page.locator('[data-test="task-dialog"]')
  await taskDialog.locator('input[name="taskPoints"]').fill('40')
  await taskDialog.locator('[data-test="save-task"]').click()
  await taskDialog.waitFor({ state: 'hidden' })
  await page.locator('[data-test="task-bind-phone"]', { hasText: '40 积分 · 每人一次' }).waitFor()
  await screenshot(page, 'points-tasks')

  // then a shopper's tasks say so, and their phone earns them 40 points once
  const { token } = await shopper('POST', '/v1/auth/login', undefined, { code: 'console-points.1' })
  const today = await shopper('GET', '/v1/tasks', token)
  assert.equal(today.tasks.find((t) => t.kind === 'bind-phone').points, 40)
  await shopper('POST', '/v1/auth/phone', token, { code: 'phone-13912345678' })
  const earned = await shopper('POST', '/v1/tasks/bind-phone/claim', token, {})
  assert.equal(earned.points, 40)

  // when the owner lists a teacup gift for 30 points, 3 of them, on the 积分商城 tab
  await page.getByRole('tab', { name: '积分商城' }).click()
  await page.locator('[data-test="new-mall-item"]').click()
  const mallDialog = page.locator('[data-test="mall-dialog"]')
  await mallDialog.locator('input[name="mallItemId"]').fill('console-teacup')
  await mallDialog.locator('input[name="mallItemTitle"]').fill('积分换茶杯')
  await mallDialog.getByText('实物（发货）').click()
  await mallDialog.locator('input[name="mallSku"]').fill('teacup-1')
  await mallDialog.locator('input[name="mallPoints"]').fill('30')
  await mallDialog.locator('input[name="mallStock"]').fill('3')
  const window = mallDialog.locator('.el-range-input')
  await window.nth(0).fill(chinaClock(-5))
  await window.nth(1).fill(chinaClock(24 * 60))
  await window.nth(1).press('Enter')
  await screenshot(page, 'mall-editor')
  await mallDialog.locator('[data-test="save-mall-item"]').click()
  await mallDialog.waitFor({ state: 'hidden' })
  await page.locator('[data-test="left-console-teacup"]', { hasText: '3 / 3' }).waitFor()

  // then the shopper redeems it with their points, and it becomes a paid order of its own
  const mall = await shopper('GET', '/v1/points-mall', token)
  assert.equal(mall.items.find((i) => i.id === 'console-teacup').left, 3)
  const redeemed = await shopper(
    'POST',
    '/v1/points-mall/console-teacup/redeem',
    token,
    { address },
    { 'idempotency-key': 'console-teacup-1' },
  )
  assert.equal(redeemed.order.order.status, 'PAID')
  assert.equal((await shopper('GET', '/v1/points-mall', token)).balance, 10)

  // and the owner's record of redemptions shows it
  await page.locator('[data-test="mall-redemptions"]').click()
  await page.locator('[data-test="redemptions"] .el-table__row', { hasText: '积分换茶杯' }).waitFor()
  await screenshot(page, 'mall-redemptions')
  await page.keyboard.press('Escape')
  await page.locator('[data-test="redemptions"]').waitFor({ state: 'hidden' })

  // and once the reports counted them, the dashboard shows the points issued and spent
  const session = await sessionOf(page)
  const to = chinaDay(new Date())
  const from = chinaDay(new Date(Date.now() - 6 * 86_400_000))
  const report = await eventually(
    () => adminApi(session.token, 'GET', `/admin/v1/reports/funnel?from=${from}&to=${to}`),
    (r) => r.status === 200 && r.body.pointsIssued >= 40 && r.body.pointsSpent >= 30 && r.body.mallRedemptions >= 1,
  )
  await page.getByRole('menuitem', { name: '数据看板' }).click()
  await page.locator('[data-test="points-chart"] canvas').waitFor()
  await page.locator('.summary[data-loading="no"]').waitFor()
  assert.equal(await page.locator('[data-test="points-issued"]').innerText(), String(report.body.pointsIssued))
  assert.equal(await page.locator('[data-test="points-spent"]').innerText(), String(report.body.pointsSpent))
  await screenshot(page, 'dashboard-points')
  assert.deepEqual(problems, [])
})
