import { defineConfig } from 'vite';

// Fixed asset names and no build-time data make the output a pure function of the sources and
// the lock file, so CI can rebuild and compare it with the copy shipped in nni/server/static.
export default defineConfig({
  base: './',
  build: {
    outDir: '../nni/server/static',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    modulePreload: false,
    rollupOptions: {
      output: {
        entryFileNames: 'assets/app.js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
});
