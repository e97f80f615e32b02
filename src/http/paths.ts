/** The fixed paths of the operations HTTP server; the deployment manifests' probes point here
 * (test/deploy checks that they do). */
export const HTTP_PATHS = {
  liveness: "/healthz",
  readiness: "/readyz",
  metrics: "/metrics",
  admin: "/admin",
} as const
