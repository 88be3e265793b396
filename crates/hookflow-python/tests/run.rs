//! The runner on its own, with the machine's /usr/bin/python3 (the server-level tests are in
//! crates/hookflow/tests/it/python.rs).

use std::time::Duration;

use hookflow_python::{Job, Python, PythonOptions};

fn job(script: &str) -> Job {
    Job {
        script: script.into(),
        args: vec!["a b".into(), "{\"x\": 1}".into()],
        variables: vec!["n".into(), "s".into(), "gone".into()],
        timeout: Duration::from_secs(10),
    }
}

async fn python() -> Python {
    let py = Python::prepare(PythonOptions {
        interpreter: "/usr/bin/python3".into(),
        ..PythonOptions::default()
    })
    .await;
    assert_eq!(py.unavailable(), None, "{}", py.describe());
    py
}

#[tokio::test(flavor = "multi_thread")]
async fn args_variables_and_output() {
    let py = python().await;
    let t = std::time::Instant::now();
    let out = py
        .run(&job(
            "import sys, json, os\nn = len(sys.argv)\ns = sys.argv[1]\nprint(json.dumps(sys.argv[1:]))\nprint(os.getuid(), os.getpid(), sorted(os.environ))\n",
        ))
        .await
        .unwrap();
    eprintln!("{:?} {}", t.elapsed(), out.stdout_text());
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr_text());
    let v = out.variables.unwrap();
    assert_eq!(v["n"]["value"], 3);
    assert_eq!(v["s"]["value"], "a b");
    assert_eq!(v["gone"]["missing"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn probes() {
    let py = python().await;
    let out = py
        .run(&job(r#"
import os, socket
for p in ["/etc/shadow", "/root/.bashrc", "/proc/1/environ", "/tmp", "/var/log"]:
    try:
        open(p).read() if not os.path.isdir(p) else os.listdir(p)
        print(p, "READ")
    except Exception as e:
        print(p, type(e).__name__, e)
try:
    s = socket.socket(socket.AF_UNIX); print("unix socket made")
except Exception as e:
    print("unix", type(e).__name__)
try:
    os.kill(1, 0); print("kill 1 ok")
except Exception as e:
    print("kill", type(e).__name__)
print(os.listdir("."), os.getcwd())
"#))
        .await
        .unwrap();
    eprintln!("{}\n{}", out.stdout_text(), out.stderr_text());
    assert_eq!(out.exit_code, Some(0));
}

/// The process limit counts one script's processes: many scripts at once, each with a few
/// children, all run (RLIMIT_NPROC set inside each script's user namespace).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_scripts_each_get_their_own_process_limit() {
    let py = std::sync::Arc::new(python().await);
    let script = "import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n        time.sleep(0.5)\n        os._exit(0)\n    kids.append(pid)\nfor k in kids:\n    os.waitpid(k, 0)\nn = len(kids)\n";
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let py = py.clone();
        tasks.push(tokio::spawn(async move {
            let mut j = job(script);
            j.variables = vec!["n".into()];
            py.run(&j).await.unwrap()
        }));
    }
    for t in tasks {
        let out = t.await.unwrap();
        assert_eq!(out.exit_code, Some(0), "{}", out.stderr_text());
        assert_eq!(out.variables.unwrap()["n"]["value"], 4);
    }
}

/// Timing of one run, sandboxed and not (`cargo test --release -p hookflow-python --test run
/// -- --ignored --nocapture`); numbers in BENCHMARKS.md.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn timing() {
    for sandbox in [
        hookflow_python::SandboxMode::Auto,
        hookflow_python::SandboxMode::None,
    ] {
        let py = Python::prepare(PythonOptions {
            interpreter: "/usr/bin/python3".into(),
            sandbox,
            ..PythonOptions::default()
        })
        .await;
        let mut ms: Vec<f64> = Vec::new();
        for _ in 0..100 {
            let t = std::time::Instant::now();
            let out = py.run(&job("n = 1\ns = 'x'\n")).await.unwrap();
            assert_eq!(out.exit_code, Some(0));
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        eprintln!("{sandbox:?}: median {:.1} ms, p90 {:.1} ms", ms[50], ms[90]);
    }
}

/// The interpreter is not its namespace's PID 1: a signal it sends itself ends it as usual, and
/// a process it orphans is reaped (not left a zombie counting against the process limit).
#[tokio::test(flavor = "multi_thread")]
async fn the_script_is_not_pid_1() {
    let py = python().await;
    let mut j = job(
        "import os, time\npid = os.getpid()\nfor i in range(40):\n    if os.fork() == 0:\n        if os.fork() == 0:\n            os._exit(0)\n        os._exit(0)\n    os.wait()\n",
    );
    j.variables = vec!["pid".into()];
    let out = py.run(&j).await.unwrap();
    assert_eq!(out.exit_code, Some(0), "{}", out.stderr_text());
    assert_eq!(out.variables.unwrap()["pid"]["value"], 2);
    let out = py
        .run(&job(
            "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\nimport time\ntime.sleep(5)",
        ))
        .await
        .unwrap();
    assert_eq!(out.signal, Some(15), "{out:?}");
    assert!(out.elapsed < Duration::from_secs(4));
}
