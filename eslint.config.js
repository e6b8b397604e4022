// typescript-eslint's recommended rules, with the project's own choices stated below.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'protos/gen/', 'node_modules/', '.airdig-test/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
  // The web view runs in the browser (its own tsconfig, bundled by esbuild in build:web).
  { files: ['processors/webview/**/*.ts'], languageOptions: { globals: globals.browser } },
  // Tests write integers past 2^53 on purpose: what senders put on the wire (Falco's evt.time, Int64 columns).
  { files: ['**/*.test.ts'], rules: { 'no-loss-of-precision': 'off' } },
  {
    rules: {
      // Factories of heterogeneous configs are typed Factory<any> on purpose (the registry holds them all).
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
);
