import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newPage, screenshot, shopper, signInAsOwner, useBrowser } from './browser.mjs'

const browser = useBrowser()

/** Wall-clock text in China time, `minutes` from now: what the console's pickers take. */
function chinaClock(minutes) {
  const at = new Date(Date.now() + minutes * 60_000 + 8 * 3_600_000)
  return at.toISOString().slice(0, 16).replace('T', ' ')
}

test('a lucky draw set up in the console is drawn by a shopper and shows in its record', async () => {
  // given the owner on the promotions page's 抽奖 tab
  const { page, problems } = await newPage(browser())
  await signInAsOwner(page)
  await page.getByRole('menuitem', { name: '营销' }).click()
  await page.getByRole('tab', { name: '抽奖' }).click()

  // when they set up a draw open now: 10 points (5 of them) or a thank-you, one free a day
  await page.locator('[data-test="new-lottery"]').click()
  const dialog = page.locator('[data-test="lottery-dialog"]')
  await dialog.locator('input[name="lotteryId"]').fill('console-wheel')
  await dialog.locator('input[name="lotteryTitle"]').fill('控制台转盘')
  const window = dialog.locator('.el-range-input')
  await window.nth(0).fill(chinaClock(-5))
  await window.nth(1).fill(chinaClock(24 * 60))
  await window.nth(1).press('Enter')
  await dialog.locator('input[name="quantity-0"]').fill('5')
  await screenshot(page, 'lottery-editor')
  await dialog.locator('[data-test="save-lottery"]').click()
  await dialog.waitFor({ state: 'hidden' })
  await page.locator('[data-test="lotteries"] .el-table__row', { hasText: 'console-wheel' }).getByText('10积分 5').waitFor()

  // then a shopper sees it with its odds and draws their free chance
  const { token } = await shopper('POST', '/v1/auth/login', undefined, { code: 'console-lottery.1' })
  const view = await shopper('GET', '/v1/lotteries/console-wheel', token)
  assert.deepEqual(
    view.prizes.map((p) => [p.id, p.left, p.oddsPermille]),
    [
      ['points-10', 5, 500],
      ['thanks', null, 500],
    ],
  )
  const { draw } = await shopper('POST', '/v1/lotteries/console-wheel/draw', token, {})
  assert.equal(draw.chance, 'free')

  // and the owner's record of the draw shows it, counted against its prize
  await page.locator('[data-test="draws-console-wheel"]').click()
  const record = page.locator('[data-test="lottery-draws"]')
  await record.locator('.el-table__row', { hasText: draw.prizeName }).waitFor()
  await record.locator(`[data-test="won-${draw.prizeId}"]`, { hasText: '1 次' }).waitFor()
  await screenshot(page, 'lottery-draws')
  assert.deepEqual(problems, [])
})
