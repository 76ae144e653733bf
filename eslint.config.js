import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }]
    }
  },
  {
    // The reference README's examples, CommonJS as users write them.
    files: ["examples/**/*.cjs"],
    rules: { "@typescript-eslint/no-require-imports": "off", "no-console": "off" }
  },
  {
    files: ["**/*.mjs", "**/*.cjs", "**/*.js"],
    languageOptions: {
      globals: { process: "readonly", console: "readonly", require: "readonly", module: "writable", URL: "readonly" }
    }
  },
  {
    // The page of the browser test runs in Chromium.
    files: ["test/browser/**/*.js"],
    languageOptions: {
      globals: { window: "readonly", document: "readonly", location: "readonly", setTimeout: "readonly", URLSearchParams: "readonly" }
    }
  }
)
