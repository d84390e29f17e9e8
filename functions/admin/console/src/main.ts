import ElementPlus from 'element-plus'
import zhCn from 'element-plus/es/locale/lang/zh-cn'
import 'element-plus/dist/index.css'
import { createApp } from 'vue'
import App from './App.vue'
import { loadConfig } from './api'
import { router } from './router'
import { startClient } from './shop'
import './style.css'

async function start() {
  const app = createApp(App)
  try {
    const config = await loadConfig()
    startClient(config.apiUrl, config.shopApiUrl, () => {
      void router.replace({ name: 'sign-in', query: { expired: '1' } })
    })
  } catch (err) {
    document.body.textContent = `后台配置读取失败：${(err as Error).message}`
    return
  }
  app.use(ElementPlus, { locale: zhCn })
  app.use(router)
  app.mount('#app')
}

void start()
