//! The SQL of the log (tables of migration 10, see [`crate::db::MIGRATIONS`])
//! and the tree over `log_leaves` and `log_hashes` ([`SqlTree`]).
//!
//! - `log_leaves`: (year, idx) → kind, the leaf's bytes, the audit record
//!   or the envelope digest it records;
//! - `log_hashes`: the hashes of complete subtrees of at least
//!   [`TILE_LEAVES`] leaves (level ≥ [`STORED_LEVEL`]) by (year, level,
//!   idx), insert-only — [`kaohe_proto::tlog::tree`] never needs to change
//!   one. A smaller subtree lies inside one tile of [`TILE_LEAVES`] leaves
//!   and is hashed again from the leaves when read (migration 13 removed
//!   the rows once stored for them): the single writer inserts a hash row
//!   per 128 leaves instead of two per leaf, and the leaves stay the only
//!   stored form of what the small subtrees hash;
//! - `log_checkpoints`: every checkpoint the hub signed, as the hub signed
//!   it (no cosignatures);
//! - `log_cosignatures`: the witnesses' cosignature lines per checkpoint.

use std::cell::RefCell;
use std::collections::HashMap;

use kaohe_proto::envelope::Digest;
use kaohe_proto::merkle::{self, Hash};
use kaohe_proto::tlog::tree::{HashReader, NodeId};
use rusqlite::{Connection, OptionalExtension, params};

/// Reading a subtree hash failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("缺少子树哈希（层 {}，序号 {}）（no subtree hash at level {}, index {}）", .0.level, .0.index, .0.level, .0.index)]
    Missing(NodeId),
}

/// The lowest level whose complete subtrees are stored in `log_hashes`.
pub const STORED_LEVEL: u8 = 8;

/// The leaves of a tile: the subtrees below [`STORED_LEVEL`] are hashed
/// again from the (at most) this many leaves of the tile they lie in.
pub const TILE_LEAVES: u64 = 1 << STORED_LEVEL;

/// One year's tree as stored, with the hashes read, hashed again from the
/// leaves or written through it kept in memory: the proofs of one batch
/// share most of their paths.
pub struct SqlTree<'c> {
    conn: &'c Connection,
    year: u16,
    cache: RefCell<HashMap<NodeId, Hash>>,
}

impl<'c> SqlTree<'c> {
    pub fn new(conn: &'c Connection, year: u16) -> SqlTree<'c> {
        SqlTree {
            conn,
            year,
            cache: RefCell::default(),
        }
    }

    pub fn year(&self) -> u16 {
        self.year
    }

    /// Stores the subtree hashes an append created from [`STORED_LEVEL`]
    /// up, and remembers them all.
    pub fn insert(&self, created: &[(NodeId, Hash)]) -> rusqlite::Result<()> {
        let mut cache = self.cache.borrow_mut();
        for (id, hash) in created {
            if id.level >= STORED_LEVEL {
                self.conn
                    .prepare_cached(
                        "INSERT INTO log_hashes (year, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        self.year,
                        id.level,
                        index(id.index)?,
                        hash.as_slice()
                    ])?;
            }
            cache.insert(*id, *hash);
        }
        Ok(())
    }

    /// Hashes the leaves of the tile `tile` up to leaf `end` (exclusive)
    /// again and remembers every complete subtree below [`STORED_LEVEL`]
    /// among them.
    fn hash_tile(
        &self,
        cache: &mut HashMap<NodeId, Hash>,
        tile: u64,
        end: u64,
    ) -> Result<(), ReadError> {
        let start = tile * TILE_LEAVES;
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, leaf FROM log_leaves WHERE year = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
        )?;
        let mut rows = stmt.query(params![self.year, index(start)?, index(end)?])?;
        let mut level: Vec<Hash> = Vec::with_capacity((end - start) as usize);
        while let Some(row) = rows.next()? {
            let idx = row.get::<_, i64>(0)?;
            let expected = start + level.len() as u64;
            if u64::try_from(idx).ok() != Some(expected) {
                return Err(ReadError::Missing(NodeId {
                    level: 0,
                    index: expected,
                }));
            }
            level.push(merkle::leaf_hash(&row.get::<_, Vec<u8>>(1)?));
        }
        if (level.len() as u64) < end - start {
            return Err(ReadError::Missing(NodeId {
                level: 0,
                index: start + level.len() as u64,
            }));
        }
        for height in 0..STORED_LEVEL {
            let first = start >> height;
            for (i, hash) in level.iter().enumerate() {
                cache.insert(
                    NodeId {
                        level: height,
                        index: first + i as u64,
                    },
                    *hash,
                );
            }
            level = level
                .chunks_exact(2)
                .map(|pair| merkle::node_hash(&pair[0], &pair[1]))
                .collect();
        }
        Ok(())
    }
}

impl HashReader for SqlTree<'_> {
    type Error = ReadError;

    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, ReadError> {
        let mut cache = self.cache.borrow_mut();
        // Within a batch, mostly all known already.
        let known: Option<Vec<Hash>> = ids.iter().map(|id| cache.get(id).copied()).collect();
        if let Some(known) = known {
            return Ok(known);
        }
        // Subtrees below the stored level: each tile hashed again once, up
        // to the last leaf any of them needs.
        let mut tiles: Vec<(u64, u64)> = Vec::new();
        for id in ids {
            if id.level >= STORED_LEVEL || cache.contains_key(id) {
                continue;
            }
            let end = id
                .index
                .checked_add(1)
                .and_then(|i| i.checked_mul(1 << id.level))
                .ok_or(ReadError::Missing(*id))?;
            let tile = (end - (1 << id.level)) / TILE_LEAVES;
            match tiles.iter_mut().find(|(t, _)| *t == tile) {
                Some((_, e)) => *e = (*e).max(end),
                None => tiles.push((tile, end)),
            }
        }
        for (tile, end) in tiles {
            self.hash_tile(&mut cache, tile, end)?;
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash FROM log_hashes WHERE year = ?1 AND level = ?2 AND idx = ?3",
        )?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(hash) = cache.get(id) {
                out.push(*hash);
                continue;
            }
            if id.level < STORED_LEVEL {
                return Err(ReadError::Missing(*id));
            }
            let bytes: Option<Vec<u8>> = stmt
                .query_row(params![self.year, id.level, index(id.index)?], |r| r.get(0))
                .optional()?;
            let hash = bytes
                .and_then(|b| Hash::try_from(b.as_slice()).ok())
                .ok_or(ReadError::Missing(*id))?;
            cache.insert(*id, hash);
            out.push(hash);
        }
        Ok(out)
    }
}

fn index(i: u64) -> rusqlite::Result<i64> {
    i64::try_from(i).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// The number of leaves of `year`'s log.
pub fn size(conn: &Connection, year: u16) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM log_leaves WHERE year = ?1")?
        .query_row([year], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
}

/// The years whose log has at least one leaf, ascending.
pub fn years(conn: &Connection) -> rusqlite::Result<Vec<u16>> {
    conn.prepare_cached("SELECT DISTINCT year FROM log_leaves ORDER BY year")?
        .query_map([], |r| r.get(0))?
        .collect()
}

/// One leaf row to write.
pub struct NewLeaf<'a> {
    pub year: u16,
    pub index: u64,
    pub kind: &'static str,
    pub bytes: &'a [u8],
    pub audit_seq: Option<i64>,
    pub digest: Option<&'a Digest>,
}

pub fn insert_leaf(conn: &Connection, leaf: &NewLeaf<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO log_leaves (year, idx, kind, leaf, audit_seq, digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        leaf.year,
        index(leaf.index)?,
        leaf.kind,
        leaf.bytes,
        leaf.audit_seq,
        leaf.digest.map(|d| d.0.to_vec())
    ])?;
    Ok(())
}

/// The bytes of leaf `idx` of `year`'s log.
pub fn leaf(conn: &Connection, year: u16, idx: u64) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT leaf FROM log_leaves WHERE year = ?1 AND idx = ?2")?
        .query_row(params![year, index(idx)?], |r| r.get(0))
        .optional()
}

/// Where the submission with this envelope digest is: (year, index).
pub fn position_of(conn: &Connection, digest: &Digest) -> rusqlite::Result<Option<(u16, u64)>> {
    conn.prepare_cached("SELECT year, idx FROM log_leaves WHERE digest = ?1")?
        .query_row([digest.0.as_slice()], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })
        .optional()
}

/// Every leaf of `year`'s log of `kind`, in order: (index, bytes).
pub fn leaves_of_kind(
    conn: &Connection,
    year: u16,
    kind: &str,
) -> rusqlite::Result<Vec<(u64, Vec<u8>)>> {
    conn.prepare_cached(
        "SELECT idx, leaf FROM log_leaves WHERE year = ?1 AND kind = ?2 ORDER BY idx",
    )?
    .query_map(params![year, kind], |r| {
        Ok((r.get::<_, i64>(0)?.max(0) as u64, r.get(1)?))
    })?
    .collect()
}

/// A checkpoint as the hub signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub size: u64,
    pub root: Hash,
    pub note: String,
}

fn checkpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CheckpointRow> {
    let root: Vec<u8> = r.get(1)?;
    Ok(CheckpointRow {
        size: r.get::<_, i64>(0)?.max(0) as u64,
        root: Hash::try_from(root.as_slice()).unwrap_or_default(),
        note: r.get(2)?,
    })
}

/// Stores a signed checkpoint; one of that size already there is kept
/// (the hub's signature over the same text is the same bytes).
pub fn insert_checkpoint(
    conn: &Connection,
    year: u16,
    row: &CheckpointRow,
    signed_at: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO log_checkpoints (year, size, root, note, signed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        year,
        index(row.size)?,
        row.root.as_slice(),
        row.note,
        signed_at
    ])?;
    Ok(())
}

/// The checkpoint of `year` of exactly `size`, if the hub signed one.
pub fn checkpoint_at(
    conn: &Connection,
    year: u16,
    size: u64,
) -> rusqlite::Result<Option<CheckpointRow>> {
    conn.prepare_cached(
        "SELECT size, root, note FROM log_checkpoints WHERE year = ?1 AND size = ?2",
    )?
    .query_row(params![year, index(size)?], checkpoint_row)
    .optional()
}

/// The largest checkpoint of `year` the hub signed.
pub fn latest_checkpoint(conn: &Connection, year: u16) -> rusqlite::Result<Option<CheckpointRow>> {
    conn.prepare_cached(
        "SELECT size, root, note FROM log_checkpoints WHERE year = ?1 ORDER BY size DESC LIMIT 1",
    )?
    .query_row([year], checkpoint_row)
    .optional()
}

/// The smallest checkpoint of `year` that includes leaf `idx`: the one
/// signed at the end of the batch that appended it.
pub fn first_checkpoint_covering(
    conn: &Connection,
    year: u16,
    idx: u64,
) -> rusqlite::Result<Option<CheckpointRow>> {
    conn.prepare_cached(
        "SELECT size, root, note FROM log_checkpoints WHERE year = ?1 AND size > ?2 ORDER BY size LIMIT 1",
    )?
    .query_row(params![year, index(idx)?], checkpoint_row)
    .optional()
}

/// Every checkpoint of `year` of at least `min_size`, with its number of
/// cosignatures, smallest first.
pub fn checkpoints_from(
    conn: &Connection,
    year: u16,
    min_size: u64,
) -> rusqlite::Result<Vec<(CheckpointRow, u32)>> {
    conn.prepare_cached(
        "SELECT c.size, c.root, c.note,
                (SELECT COUNT(*) FROM log_cosignatures s WHERE s.year = c.year AND s.size = c.size)
         FROM log_checkpoints c WHERE c.year = ?1 AND c.size >= ?2 ORDER BY c.size",
    )?
    .query_map(params![year, index(min_size)?], |r| {
        Ok((checkpoint_row(r)?, r.get(3)?))
    })?
    .collect()
}

/// The cosignature lines received for checkpoint (`year`, `size`), by
/// witness key id.
pub fn cosignature_lines(conn: &Connection, year: u16, size: u64) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT line FROM log_cosignatures WHERE year = ?1 AND size = ?2 ORDER BY witness",
    )?
    .query_map(params![year, index(size)?], |r| r.get(0))?
    .collect()
}

/// One received cosignature.
pub struct NewCosignature<'a> {
    pub year: u16,
    pub size: u64,
    pub witness: &'a str,
    pub line: &'a str,
    pub time: i64,
    pub received_at: &'a str,
}

/// Stores a cosignature; a witness's first cosignature of a checkpoint is
/// kept (a later one only restates it).
pub fn insert_cosignature(conn: &Connection, c: &NewCosignature<'_>) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO log_cosignatures (year, size, witness, line, time, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        c.year,
        index(c.size)?,
        c.witness,
        c.line,
        c.time,
        c.received_at
    ])?;
    Ok(())
}
