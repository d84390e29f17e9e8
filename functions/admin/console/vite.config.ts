import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

// Served under /console/ (ShopCdn in AWS, the local gateway in make dev); config.json beside
// index.html says where the admin API is, so one bundle serves every stack.
export default defineConfig({
  base: '/console/',
  plugins: [vue()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Element Plus whole (about 1 MB, 320 kB gzipped) is one cached file for every page.
    chunkSizeWarningLimit: 1100,
    // One chunk per library family keeps the first page's download cacheable across releases.
    rollupOptions: {
      output: {
        manualChunks(id: string) {
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'charts'
          if (id.includes('node_modules/element-plus')) return 'element'
          if (id.includes('node_modules')) return 'vendor'
          return undefined
        },
      },
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
})
