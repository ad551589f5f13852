//! A slab: the reactor's table of connections, indexed by token.
//!
//! The kernel hands back a [`crate::poll::Token`] with each event; making that token an index
//! into a `Vec` turns "which connection is this?" into one bounds-checked array access, with
//! no hashing. Freed slots go on a free list and are reused by the next insert, so the table
//! stays as large as the peak number of connections, not the total ever accepted.
//!
//! Reuse has a catch: a token can outlive its connection. A timer set for the connection that
//! used slot 7 may fire after slot 7 went to a new connection. So each slot counts its
//! *generation*, bumped whenever its value is removed; whoever keeps a token around also
//! keeps the generation it saw, and [`Slab::generation`] tells whether it is still current.
//!
//! Written by hand rather than with the `slab` crate (which mio users often take) so the
//! reader sees there is nothing more to it.

/// A `Vec` of slots, some vacant, with a free list.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Indices of vacant slots. Last in, first out: the slot freed most recently is the
    /// likeliest still to be in the CPU cache.
    free: Vec<usize>,
    /// Occupied slots.
    len: usize,
}

/// One slot: a value or nothing, and how many values it has held before.
struct Slot<T> {
    value: Option<T>,
    generation: u64,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab::new()
    }
}

impl<T> Slab<T> {
    /// An empty slab.
    pub fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Stores `value` and returns its key (reusing a vacant slot if there is one).
    pub fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.slots[key].value = Some(value);
                key
            }
            None => {
                self.slots.push(Slot {
                    value: Some(value),
                    generation: 0,
                });
                self.slots.len() - 1
            }
        }
    }

    /// The value at `key`, if the slot is occupied.
    pub fn get(&self, key: usize) -> Option<&T> {
        self.slots.get(key)?.value.as_ref()
    }

    /// The value at `key`, if the slot is occupied.
    pub fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.slots.get_mut(key)?.value.as_mut()
    }

    /// Takes the value out of `key`'s slot, which becomes vacant and starts a new generation.
    pub fn remove(&mut self, key: usize) -> Option<T> {
        let slot = self.slots.get_mut(key)?;
        let value = slot.value.take()?;
        slot.generation += 1;
        self.free.push(key);
        self.len -= 1;
        Some(value)
    }

    /// The generation of `key`'s slot if it is occupied: a remembered `(key, generation)`
    /// pair still refers to the same value exactly when this returns that generation.
    pub fn generation(&self, key: usize) -> Option<u64> {
        let slot = self.slots.get(key)?;
        slot.value.as_ref().map(|_| slot.generation)
    }

    /// Number of values stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No values stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The keys of all occupied slots (collected, so the caller may mutate while walking).
    pub fn keys(&self) -> Vec<usize> {
        self.iter().map(|(key, _)| key).collect()
    }

    /// All occupied slots, with their keys.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(key, slot)| slot.value.as_ref().map(|v| (key, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are dense indices, and values come back from their own key.
    #[test]
    fn insert_and_get() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        let b = slab.insert("b");
        assert_eq!((a, b), (0, 1));
        assert_eq!(slab.get(a), Some(&"a"));
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.get(2), None);
        assert_eq!(slab.len(), 2);
        *slab.get_mut(a).unwrap() = "A";
        assert_eq!(slab.get(a), Some(&"A"));
    }

    /// A removed slot is vacant, reused by the next insert, and nothing grows meanwhile.
    #[test]
    fn remove_frees_the_slot_for_reuse() {
        let mut slab = Slab::new();
        let a = slab.insert(1);
        let _b = slab.insert(2);
        assert_eq!(slab.remove(a), Some(1));
        assert_eq!(
            slab.remove(a),
            None,
            "a vacant slot cannot be removed twice"
        );
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.len(), 1);
        let c = slab.insert(3);
        assert_eq!(c, a, "the freed slot is reused");
        assert_eq!(slab.slots.len(), 2);
        assert_eq!(slab.get(c), Some(&3));
    }

    /// A slot's generation changes when its value is removed, so a stale key is detectable.
    #[test]
    fn generation_tells_a_reused_slot_apart() {
        let mut slab = Slab::new();
        let key = slab.insert('x');
        let first = slab.generation(key).unwrap();
        slab.remove(key);
        assert_eq!(
            slab.generation(key),
            None,
            "vacant slots have no current generation"
        );
        let again = slab.insert('y');
        assert_eq!(again, key);
        let second = slab.generation(key).unwrap();
        assert_ne!(first, second);
    }

    /// `keys` and `iter` list exactly the occupied slots.
    #[test]
    fn iteration_skips_vacant_slots() {
        let mut slab = Slab::new();
        for i in 0..5 {
            slab.insert(i * 10);
        }
        slab.remove(1);
        slab.remove(3);
        assert_eq!(slab.keys(), vec![0, 2, 4]);
        let values: Vec<i32> = slab.iter().map(|(_, v)| *v).collect();
        assert_eq!(values, vec![0, 20, 40]);
        assert!(!slab.is_empty());
    }
}
