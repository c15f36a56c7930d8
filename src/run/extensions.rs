//! A map from type to value: how step kinds and hooks keep their own state (the OAuth steps'
//! pending authorization, a flow's `oauth:` settings) without the engine knowing its type.

use std::any::{Any, TypeId};
use std::collections::HashMap;

/// Values keyed by their type.
#[derive(Default)]
pub struct Extensions(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({} values)", self.0.len())
    }
}

impl Extensions {
    pub fn new() -> Extensions {
        Extensions::default()
    }

    /// Stores a value, returning the one it replaces.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) -> Option<T> {
        self.0
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref()
    }

    pub fn get_mut<T: Any + Send + Sync>(&mut self) -> Option<&mut T> {
        self.0.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }

    /// The value of this type, created with `Default` if there is none yet.
    pub fn get_or_default<T: Any + Send + Sync + Default>(&mut self) -> &mut T {
        self.0
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut()
            .expect("the value under a type id has that type")
    }

    /// Takes in another map's values; its values win.
    pub fn absorb(&mut self, other: Extensions) {
        self.0.extend(other.0);
    }

    pub fn remove<T: Any + Send + Sync>(&mut self) -> Option<T> {
        self.0
            .remove(&TypeId::of::<T>())
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_type() {
        let mut ext = Extensions::new();
        assert!(ext.insert(3u32).is_none());
        assert_eq!(ext.insert(4u32), Some(3));
        *ext.get_or_default::<String>() += "x";
        assert_eq!(ext.get::<String>().map(String::as_str), Some("x"));
        assert_eq!(ext.remove::<u32>(), Some(4));
        assert!(ext.get::<u32>().is_none());
    }
}
