import { createRouter, createWebHashHistory } from 'vue-router'
import { state } from './shop'

// Hash routes: the bundle is one index.html wherever it is served, with no rewrite rules.
export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/sign-in', name: 'sign-in', component: () => import('./pages/SignIn.vue'), meta: { open: true } },
    { path: '/password', name: 'password', component: () => import('./pages/ChangePassword.vue') },
    {
      path: '/',
      component: () => import('./pages/Shell.vue'),
      children: [
        { path: '', redirect: { name: 'dashboard' } },
        { path: 'dashboard', name: 'dashboard', component: () => import('./pages/Dashboard.vue') },
        { path: 'products', name: 'products', component: () => import('./pages/Products.vue') },
        { path: 'orders', name: 'orders', component: () => import('./pages/Orders.vue') },
        { path: 'promotions', name: 'promotions', component: () => import('./pages/Promotions.vue') },
        { path: 'after-sales', name: 'after-sales', component: () => import('./pages/AfterSales.vue') },
        { path: 'audit', name: 'audit', component: () => import('./pages/Audit.vue') },
        { path: 'staff', name: 'staff', component: () => import('./pages/Staff.vue') },
        { path: 'account', name: 'account', component: () => import('./pages/Account.vue') },
      ],
    },
  ],
})

router.beforeEach((to) => {
  if (to.meta.open) return true
  if (!state.session) return { name: 'sign-in' }
  if (state.session.staff.mustChangePassword && to.name !== 'password') return { name: 'password' }
  return true
})
