import assert from 'node:assert/strict'
import { test } from 'node:test'
import { useBrowser, newPage, paidOrder, screenshot, shopUrl, signInAsOwner } from './browser.mjs'

const browser = useBrowser()

test('the owner adds a service member, who sees no staff page and only masked phones', async () => {
  // given an order with a receiver's phone, and the owner on the staff page adding a 客服
  await paidOrder('console-roles', 'longjing-2')
  const owner = await newPage(browser())
  await signInAsOwner(owner.page)
  await owner.page.getByRole('menuitem', { name: '员工' }).click()
  await owner.page.locator('[data-test="add-member"]').click()
  await owner.page.getByPlaceholder('3–32 位小写字母、数字、. - _').fill('kefu.xiaomei')
  await owner.page.getByRole('button', { name: '添加', exact: true }).click()
  const oneTime = await owner.page.locator('[data-test="one-time-password"]').innerText()
  await screenshot(owner.page, 'staff-added')
  await owner.page.getByRole('button', { name: '我已交给对方' }).click()
  await owner.page.locator('[data-test="staff"] .el-table__row', { hasText: 'kefu.xiaomei' }).waitFor()
  await screenshot(owner.page, 'staff')

  // when the member signs in with the handed-over password and sets their own
  const { page, problems } = await newPage(browser())
  await page.goto(`${shopUrl}/console/`)
  await page.getByLabel('用户名').fill('kefu.xiaomei')
  await page.getByLabel('密码').fill(oneTime)
  await page.getByRole('button', { name: '登录' }).click()
  await page.getByLabel('当前密码').fill(oneTime)
  await page.getByLabel('新密码').fill('Kefu-xiaomei-2026')
  await page.getByRole('button', { name: '保存并继续' }).click()

  // then they land on the orders, with no staff, audit or dashboard page to open
  await page.getByRole('heading', { name: '订单' }).waitFor()
  const menu = await page.getByRole('menuitem').allInnerTexts()
  assert.deepEqual(menu.map((m) => m.trim()), ['订单', '售后审核', '我的账号'])
  await page.goto(`${shopUrl}/console/#/staff`)
  await page.getByRole('heading', { name: '订单' }).waitFor()
  // and every receiver's phone is masked
  const rows = page.locator('[data-test="orders"] .el-table__row')
  await rows.first().waitFor()
  const text = (await rows.allInnerTexts()).join('\n')
  assert.match(text, /139\*\*\*\*5678/)
  assert.doesNotMatch(text, /13912345678/)
  await screenshot(page, 'orders-as-service')
  assert.deepEqual([...owner.problems, ...problems], [])
})
