// graph: a Rust program (std only) with the leaks Rust programs have: Rc<RefCell<_>> cycles that
// are dropped (never freed), a mem::forget of a Vec of Strings, and a Box::into_raw whose pointer is
// lost. Prints READY when the leaks exist, then waits for a line (or EOF) on stdin and exits.
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::BufRead;
use std::rc::Rc;

struct Node {
    name: String,
    peers: Vec<Rc<RefCell<Node>>>,
    tags: HashMap<String, String>,
}

fn node(name: String) -> Rc<RefCell<Node>> {
    let mut tags = HashMap::new();
    tags.insert(format!("{}-kind", name), "a tag value long enough for the heap".to_string());
    Rc::new(RefCell::new(Node { name, peers: Vec::new(), tags }))
}

struct Config {
    values: Vec<String>,
}

/// A global registry: what it holds is reachable through a static.
static REGISTRY: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

#[inline(never)]
fn leak_cycle(i: usize) {
    let a = node(format!("cycle {} node a", i));
    let b = node(format!("cycle {} node b", i));
    let c = node(format!("cycle {} node c", i));
    a.borrow_mut().peers.push(b.clone());
    b.borrow_mut().peers.push(c.clone());
    c.borrow_mut().peers.push(a.clone()); // a → b → c → a: never freed
}

#[inline(never)]
fn kept_chain(n: usize) -> Vec<Rc<RefCell<Node>>> {
    let nodes: Vec<_> = (0..n).map(|i| node(format!("kept node {}", i))).collect();
    for w in nodes.windows(2) {
        w[0].borrow_mut().peers.push(w[1].clone());
    }
    nodes
}

fn main() {
    let kept = kept_chain(20);
    for i in 0..5 {
        REGISTRY.lock().unwrap().push(format!("registered name {} long enough", i));
    }
    let mut churn: Vec<String> = Vec::new();
    for i in 0..6 {
        leak_cycle(i);
        for k in 0..50 {
            churn.push(format!("churn {} {} and some more text", i, k));
        }
        churn.truncate(10);
    }
    let forgotten: Vec<String> = (0..8).map(|i| format!("forgotten config value {}", i)).collect();
    std::mem::forget(forgotten);
    let raw = Box::into_raw(Box::new(Config {
        values: (0..4).map(|i| format!("boxed value {} long enough", i)).collect(),
    }));
    let _ = raw; // the pointer is dropped: the box is never reclaimed
    println!("READY {} kept", kept.len() + churn.len());
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    println!("{}", kept[0].borrow().name.len() + kept[0].borrow().tags.len());
}
