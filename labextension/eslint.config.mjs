// Lint of the extension's TypeScript (npm run lint, with --max-warnings 0).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'lib/', 'lib-test/', 'wheel-data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      eqeqeq: 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
      // Text from the kernel goes in with textContent, never as markup.
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'Use textContent.' },
        { property: 'outerHTML', message: 'Use textContent.' }
      ],
      '@typescript-eslint/no-explicit-any': 'error'
    }
  },
  {
    files: ['scripts/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly' }
    }
  }
);
