//! Synthetic desired/live pairs for benchmarks and property tests: a desired Deployment,
//! Service or ConfigMap, and its live form as an API server would return it — defaults added,
//! quantities respelled, keyed lists reordered, server metadata, status, and managedFields in
//! which the applier owns exactly what it declared. Shared by the core and worker benchmarks
//! (included with `#[path]`), so it is plain code with a tiny deterministic RNG.
#![allow(dead_code)] // each includer uses a subset

use serde_json::{Map, Value, json};

/// SplitMix64: deterministic and dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The FieldsV1 set a manager applying `desired` owns: every declared leaf, keyed items with
/// their key (defaulted `protocol` included), `"."` on every item.
pub fn fields_v1(desired: &Value, field: Option<&str>) -> Value {
    match desired {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if field.is_none() && matches!(k.as_str(), "apiVersion" | "kind") {
                    continue;
                }
                if field == Some("metadata") && matches!(k.as_str(), "name" | "namespace") {
                    continue;
                }
                out.insert(format!("f:{k}"), fields_v1(v, Some(k)));
            }
            Value::Object(out)
        }
        Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
            let keys: &[&str] = match field {
                Some("ports") if items[0].get("containerPort").is_some() => {
                    &["containerPort", "protocol"]
                }
                Some("ports") => &["port", "protocol"],
                _ => &["name"],
            };
            let mut out = Map::new();
            for item in items {
                let mut key = Map::new();
                for k in keys {
                    let v = item.get(*k).cloned().unwrap_or_else(|| json!("TCP"));
                    key.insert((*k).to_owned(), v);
                }
                let mut sorted: Vec<(String, Value)> = key.into_iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                let key_text = Value::Object(sorted.into_iter().collect()).to_string();
                let mut inner = match fields_v1(item, None) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                inner.insert(".".into(), json!({}));
                out.insert(format!("k:{key_text}"), Value::Object(inner));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

fn respell_quantity(q: &str) -> String {
    if let Some(n) = q.strip_suffix('m').and_then(|m| m.parse::<u64>().ok())
        && n % 100 == 0
    {
        return format!("{}", n as f64 / 1000.0);
    }
    if let Some(n) = q.strip_suffix("Mi").and_then(|mi| mi.parse::<u64>().ok()) {
        return format!("{}Ki", n * 1024);
    }
    q.to_owned()
}

fn container(rng: &mut Rng, i: usize) -> Value {
    let mut c = json!({
        "name": format!("c{i}"),
        "image": format!("registry.example.com/app-{}:{}.{}", rng.below(50), rng.below(9), rng.below(20)),
        "args": ["--port", format!("{}", 8000 + i), "--verbose"],
        "env": [
            {"name": "MODE", "value": "production"},
            {"name": "REPLICA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": format!("FEATURE_{}", rng.below(5)), "value": "on"},
        ],
        "ports": [{"containerPort": 8080 + i as u64, "name": "http"}, {"containerPort": 9090 + i as u64, "protocol": "UDP", "name": "metrics"}],
        "resources": {
            "requests": {"cpu": format!("{}00m", 1 + rng.below(9)), "memory": format!("{}Mi", 64 * (1 + rng.below(8)))},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
    });
    if rng.below(2) == 0 {
        c["readinessProbe"] =
            json!({"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5});
    }
    c
}

/// A desired object of kind `which` (0 Deployment, 1 Service, 2 ConfigMap).
pub fn desired(rng: &mut Rng, which: u64, n: usize) -> Value {
    let name = format!("app-{n}");
    let labels = json!({"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "bench", "tier": format!("t{}", rng.below(3))});
    match which {
        0 => {
            let containers: Vec<Value> = (0..1 + rng.below(2) as usize)
                .map(|i| container(rng, i))
                .collect();
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": "bench", "labels": labels},
                "spec": {
                    "replicas": 1 + rng.below(4),
                    "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                    "template": {
                        "metadata": {"labels": {"app.kubernetes.io/name": name}},
                        "spec": {
                            "serviceAccountName": "app",
                            "containers": containers,
                            "volumes": [{"name": "config", "configMap": {"name": format!("{name}-config"), "defaultMode": 420}}],
                        },
                    },
                },
            })
        }
        1 => json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": "bench", "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}],
            },
        }),
        _ => {
            let mut data = Map::new();
            for k in 0..3 + rng.below(5) {
                data.insert(
                    format!("key{k}.properties"),
                    Value::String(format!("value-{}-{}", n, rng.below(1000))),
                );
            }
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": format!("{name}-config"), "namespace": "bench", "labels": labels},
                "data": data,
            })
        }
    }
}

fn default_container(c: &mut Value) {
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["terminationMessagePath"] = json!("/dev/termination-log");
    c["terminationMessagePolicy"] = json!("File");
    if let Some(ports) = c["ports"].as_array_mut() {
        for p in ports.iter_mut() {
            if p.get("protocol").is_none() {
                p["protocol"] = json!("TCP");
            }
        }
        ports.reverse();
    }
    if let Some(env) = c["env"].as_array_mut() {
        env.rotate_left(1);
    }
    for side in ["requests", "limits"] {
        if let Some(map) = c["resources"][side].as_object_mut() {
            for v in map.values_mut() {
                if let Some(s) = v.as_str() {
                    *v = json!(respell_quantity(s));
                }
            }
        }
    }
    if let Some(probe) = c.get_mut("readinessProbe") {
        probe["failureThreshold"] = json!(3);
        probe["successThreshold"] = json!(1);
        probe["timeoutSeconds"] = json!(1);
        probe["httpGet"]["scheme"] = json!("HTTP");
    }
}

/// The live form of `desired`; with `drift`, one field really differs (owned by kubectl-edit).
pub fn live(desired: &Value, drift: bool, n: usize) -> Value {
    let mut live = desired.clone();
    let applier_fields = fields_v1(desired, None);
    let kind = desired["kind"].as_str().unwrap_or_default().to_owned();
    live["metadata"]["uid"] = json!(format!("00000000-0000-0000-0000-{n:012}"));
    live["metadata"]["resourceVersion"] = json!(format!("{}", 1000 + n));
    live["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    let mut managed = vec![json!({
        "manager": "argocd-controller", "operation": "Apply", "apiVersion": desired["apiVersion"],
        "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": applier_fields,
    })];
    match kind.as_str() {
        "Deployment" => {
            live["metadata"]["generation"] = json!(3);
            live["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "3"});
            let spec = &mut live["spec"];
            spec["progressDeadlineSeconds"] = json!(600);
            spec["revisionHistoryLimit"] = json!(10);
            spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
            let pod = &mut spec["template"]["spec"];
            pod["dnsPolicy"] = json!("ClusterFirst");
            pod["restartPolicy"] = json!("Always");
            pod["schedulerName"] = json!("default-scheduler");
            pod["securityContext"] = json!({});
            pod["terminationGracePeriodSeconds"] = json!(30);
            spec["template"]["metadata"]["creationTimestamp"] = Value::Null;
            if let Some(containers) = live["spec"]["template"]["spec"]["containers"].as_array_mut()
            {
                containers.iter_mut().for_each(default_container);
                containers.reverse();
            }
            live["status"] = json!({"replicas": 2, "readyReplicas": 2, "observedGeneration": 3,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]});
            managed.push(json!({
                "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1", "subresource": "status",
                "time": "2026-01-02T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:replicas": {}, "f:readyReplicas": {}, "f:observedGeneration": {},
                    "f:conditions": {".": {}, "k:{\"type\":\"Available\"}": {".": {}, "f:type": {}, "f:status": {}, "f:reason": {}}}}},
            }));
            managed.push(json!({
                "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                "time": "2026-01-02T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}},
            }));
            if drift {
                live["spec"]["template"]["spec"]["containers"][0]["image"] =
                    json!("registry.example.com/hotfix:1");
                managed.push(json!({
                    "manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "time": "2026-01-03T00:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                        format!("k:{{\"name\":\"{}\"}}", live["spec"]["template"]["spec"]["containers"][0]["name"].as_str().unwrap_or_default()): {"f:image": {}}}}}}},
                }));
            }
        }
        "Service" => {
            let spec = &mut live["spec"];
            spec["clusterIP"] = json!(format!("10.96.{}.{}", n / 250 % 250, n % 250));
            spec["clusterIPs"] = json!([spec["clusterIP"].clone()]);
            spec["type"] = json!("ClusterIP");
            spec["sessionAffinity"] = json!("None");
            spec["ipFamilies"] = json!(["IPv4"]);
            spec["ipFamilyPolicy"] = json!("SingleStack");
            spec["internalTrafficPolicy"] = json!("Cluster");
            if let Some(ports) = spec["ports"].as_array_mut() {
                for p in ports.iter_mut() {
                    if p.get("protocol").is_none() {
                        p["protocol"] = json!("TCP");
                    }
                }
                ports.reverse();
            }
            live["status"] = json!({"loadBalancer": {}});
            if drift {
                live["spec"]["externalTrafficPolicy"] = json!("Local");
                managed.push(json!({
                    "manager": "kubectl-patch", "operation": "Update", "apiVersion": "v1", "time": "2026-01-03T00:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:externalTrafficPolicy": {}}},
                }));
            }
        }
        _ => {
            if drift {
                live["data"]["key0.properties"] = json!("edited-by-hand");
                managed.push(json!({
                    "manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": "2026-01-03T00:00:00Z",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:key0.properties": {}}},
                }));
            }
        }
    }
    live["metadata"]["managedFields"] = Value::Array(managed);
    live
}

/// `count` pairs cycling Deployment, Service, ConfigMap; every 100th pair drifts.
pub fn pairs(count: usize, seed: u64) -> Vec<(Value, Value)> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|n| {
            let d = desired(&mut rng, (n % 3) as u64, n);
            let l = live(&d, n % 100 == 99, n);
            (d, l)
        })
        .collect()
}
