// A small Rust program whose allocations go through generics, closures, trait methods and the
// standard collections; it leaks an Rc cycle and a tree on purpose. The symbol tests build it with
// legacy and with v0 mangling (rustc's default linker, rust-lld) and check the names it gets.
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

pub struct Node {
    pub left: Option<Box<Node>>,
    pub right: Option<Box<Node>>,
    pub label: String,
}

/// A leaked binary tree: every node is allocated here.
#[inline(never)]
pub fn make_tree(depth: u32) -> Option<Box<Node>> {
    if depth == 0 {
        return None;
    }
    Some(Box::new(Node { /* LINE make_tree */
        left: make_tree(depth - 1),
        right: make_tree(depth - 1),
        label: format!("node{depth}"),
    }))
}

pub struct Basket<T> {
    pub items: Vec<T>,
    pub by_name: HashMap<String, Vec<T>>,
}

impl<T: Clone> Basket<T> {
    #[inline(never)]
    pub fn add(&mut self, name: &str, item: T) {
        self.items.push(item.clone()); /* LINE add */
        self.by_name.entry(name.to_string()).or_default().push(item);
    }
}

pub struct Peer {
    pub other: RefCell<Option<Rc<Peer>>>,
}

fn main() {
    let tree = make_tree(4);
    std::mem::forget(tree);
    let mut basket = Basket { items: Vec::new(), by_name: HashMap::new() };
    (0..8).for_each(|i| basket.add(&format!("item{}", i * 1_000_000), (i, i as f64 * 0.5)));
    let a = Rc::new(Peer { other: RefCell::new(None) });
    let b = Rc::new(Peer { other: RefCell::new(Some(a.clone())) });
    *a.other.borrow_mut() = Some(b);
    drop(a); // the cycle a <-> b is leaked
    // Where make_tree is at run time: the tests derive the load bias from it, without heapscope.
    println!("fn make_tree {:#x}", make_tree as *const () as usize);
    println!("READY {}", basket.items.len());
    if std::env::args().nth(1).as_deref() == Some("wait") {
        use std::io::Read;
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink); // alive until the test closes stdin
    }
}
