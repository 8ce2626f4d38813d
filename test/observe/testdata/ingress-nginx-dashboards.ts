// The series ingress-nginx's two Grafana dashboards query, and the labels they use on each:
// written by reading deploy/grafana/dashboards/nginx.json and
// deploy/grafana/dashboards/request-handling-performance.json of kubernetes/ingress-nginx (the
// mirror at /work/.mirror/kubernetes+ingress-nginx/repo, HEAD), every panel's `expr` and every
// templating variable's `label_values(...)` query. Not a copy of them: our own list, which
// test/observe/ingress-nginx-dashboards.test.ts checks against the dashboards when the mirror is
// there, and e2e/metrics-compat.test.ts checks against Portico's /metrics.
//
// `labels`: on the series as exported (Portico must carry them). The dashboards' `exported_namespace`
// is the series' own `namespace` after Prometheus renamed it (the scrape target's namespace
// label wins), so it is listed as `namespace`. `notOnSeries`: labels a dashboard uses that
// ingress-nginx's series do not carry either (scrape target labels, or a legend or filter that only
// matches with the variable at "All"); Portico does not add them.

export interface DashboardSeries {
  metric: string;
  labels: readonly string[];
  notOnSeries?: readonly string[];
  /** A label value a panel selects on (the series must have it). */
  values?: Readonly<Record<string, string>>;
}

const CONTROLLER = ['controller_namespace', 'controller_class', 'controller_pod'] as const;

export const DASHBOARD_SERIES: readonly DashboardSeries[] = [
  // nginx.json: variables $namespace, $controller_class, $controller
  { metric: 'nginx_ingress_controller_config_hash', labels: [...CONTROLLER], notOnSeries: ['namespace'] },
  // "Config Reloads" (changes over 30s, by controller_class)
  { metric: 'nginx_ingress_controller_config_last_reload_successful_timestamp_seconds', labels: ['controller_class'], notOnSeries: ['instance', 'namespace'] },
  // "Last Config Failed"
  { metric: 'nginx_ingress_controller_config_last_reload_successful', labels: ['controller_pod', 'controller_namespace'] },
  // "Config Reloads" rate
  { metric: 'nginx_ingress_controller_success', labels: [...CONTROLLER] },
  // "Controller Request Volume", "Controller Success Rate", "Ingress Request Volume", "Ingress
  // Success Rate" (status !~ 4xx/5xx), variables $exported_namespace, $ingress
  { metric: 'nginx_ingress_controller_requests', labels: [...CONTROLLER, 'namespace', 'ingress', 'status'] },
  // "Controller Connections" (state="active")
  { metric: 'nginx_ingress_controller_nginx_process_connections', labels: [...CONTROLLER, 'state'], values: { state: 'active' } },
  // "Network I/O pressure", "Ingress Percentile Response Times and Transfer Rates"
  { metric: 'nginx_ingress_controller_request_size_sum', labels: [...CONTROLLER, 'namespace', 'ingress'] },
  // the same, and request-handling-performance.json "Average response size by path"
  { metric: 'nginx_ingress_controller_response_size_sum', labels: [...CONTROLLER, 'namespace', 'ingress', 'method', 'host', 'path'] },
  { metric: 'nginx_ingress_controller_response_size_count', labels: ['ingress', 'method', 'host', 'path'] },
  // request-handling-performance.json "Response size distribution"
  { metric: 'nginx_ingress_controller_response_size_bucket', labels: ['ingress', 'le'] },
  // "Average Memory Usage", "Average CPU Usage"
  { metric: 'nginx_ingress_controller_nginx_process_resident_memory_bytes', labels: [...CONTROLLER] },
  { metric: 'nginx_ingress_controller_nginx_process_cpu_seconds_total', labels: [...CONTROLLER] },
  // "Ingress Percentile Response Times", "Ingress Request Latency" heatmap; request-handling:
  // "Request Latency Percentiles" (a legend names destination_service, which no series has)
  { metric: 'nginx_ingress_controller_request_duration_seconds_bucket', labels: [...CONTROLLER, 'namespace', 'ingress', 'le'], notOnSeries: ['destination_service'] },
  // request-handling: "Request volume by Path", "Error Rate by Path", "Errors by path and status"
  { metric: 'nginx_ingress_controller_request_duration_seconds_count', labels: ['ingress', 'method', 'host', 'path', 'status'] },
  // request-handling: "Upstream Response Latency Percentiles", "Median upstream response time by Path"
  { metric: 'nginx_ingress_controller_response_duration_seconds_bucket', labels: ['ingress', 'le', 'method', 'host', 'path'] },
  // request-handling: "Upstream time consumed by path"
  { metric: 'nginx_ingress_controller_response_duration_seconds_sum', labels: ['ingress', 'method', 'host', 'path'] },
  // "Ingress Certificate Expiry" (by host); ingress-nginx's series has namespace, class, host,
  // secret_name, identifier: the panel's kubernetes_pod_name and ingress filters match only "All".
  // secret_name is not queried by the dashboard but is what alert rules name.
  { metric: 'nginx_ingress_controller_ssl_expire_time_seconds', labels: ['namespace', 'host', 'secret_name'], notOnSeries: ['kubernetes_pod_name', 'ingress'] },
];
