// The console's one client and the signed-in member, shared by every page.
import { ElMessageBox } from 'element-plus'
import { reactive } from 'vue'
import { AdminClient, browserSessionStore, type Session } from './api'

export const state = reactive<{ session: Session | null; ended: boolean }>({
  session: null,
  ended: false,
})

let client: AdminClient | null = null
let shopApi = ''

/** The shoppers' API, for what staff pick from as shoppers see it (the category tree). */
export function shopApiUrl(): string {
  return shopApi
}

/** Made once config.json says where the admin API is. */
export function startClient(apiUrl: string, shopApiUrl: string, onSessionEnded: () => void): AdminClient {
  shopApi = shopApiUrl.replace(/\/$/, '')
  client = new AdminClient({
    baseUrl: apiUrl,
    sessions: browserSessionStore(),
    onSessionEnded: () => {
      state.session = null
      state.ended = true
      onSessionEnded()
    },
    askForCode: async () => {
      try {
        const { value } = await ElMessageBox.prompt(
          '此操作需要二次验证：请输入验证器 App 中当前的 6 位动态码。',
          '二次验证',
          {
            confirmButtonText: '验证',
            cancelButtonText: '取消',
            inputPattern: /^\d{6}$/,
            inputErrorMessage: '动态码是 6 位数字',
            inputPlaceholder: '6 位动态码',
            customClass: 'step-up-dialog',
          },
        )
        return value
      } catch {
        return null
      }
    },
  })
  state.session = client.session
  return client
}

export function api(): AdminClient {
  if (!client) throw new Error('the console started without its config')
  return client
}

/** True when the signed-in member's role allows `permission` (the API's own names). */
export function may(permission: string): boolean {
  return state.session?.staff.permissions?.includes(permission) ?? false
}
