//! Password hashing: Argon2id, m = 19 MiB, t = 2, p = 1 (OWASP's baseline), PHC strings.
//!
//! Each hash or check takes 19 MiB, so they run on one hashing thread per core (the
//! [`HASHERS`]); the rest queue for up to [`QUEUE_WAIT`] and are then answered `unavailable`
//! (503 with Retry-After). A storm of logins costs time, not memory.

use std::cell::RefCell;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keyport_core::{CoreError, ErrorCode, Password};

use crate::StoreError;

/// Memory cost in KiB.
pub const M_COST: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Parallelism.
pub const P_COST: u32 = 1;

/// How long a password operation waits for its turn before it is refused.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Password operations waiting at most; more are refused at once.
const QUEUE_LENGTH: usize = 256;

/// The hashing threads: one per core, and the only threads that ever run Argon2. The
/// allocator keeps a freed 19 MiB block in the arena of the thread that freed it, so hashing
/// on whichever request thread happens to run would leave one such block per thread; on a
/// fixed set of threads the memory is bounded by their number.
static HASHERS: LazyLock<Hashers> = LazyLock::new(|| {
    Hashers::start(std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(2))
});

type Job = Box<dyn FnOnce() + Send>;

struct Hashers {
    queue: SyncSender<(Instant, Job)>,
}

impl Hashers {
    fn start(threads: usize) -> Hashers {
        let (queue, jobs) = sync_channel::<(Instant, Job)>(QUEUE_LENGTH);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new().name(format!("keyport-hash-{n}")).spawn(move || {
                loop {
                    let next = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    match next {
                        // A job whose caller has given up is skipped.
                        Ok((deadline, job)) if Instant::now() < deadline => job(),
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "a password hashing thread could not start");
            }
        }
        Hashers { queue }
    }

    /// Runs `work` on a hashing thread and waits up to [`QUEUE_WAIT`] for its result.
    fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
        let (answer, result) = std::sync::mpsc::channel();
        let deadline = Instant::now() + QUEUE_WAIT;
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        if self.queue.try_send((deadline, job)).is_err() {
            return Err(saturated());
        }
        result.recv_timeout(QUEUE_WAIT).map_err(|_| saturated())
    }
}

fn saturated() -> StoreError {
    tracing::warn!("password hashing is saturated; refusing");
    CoreError::new(ErrorCode::Unavailable).into()
}

fn params() -> Result<Params, StoreError> {
    Params::new(M_COST, T_COST, P_COST, Some(OUTPUT_LEN))
        .map_err(|e| StoreError::Corrupt(format!("argon2 parameters: {e}")))
}

/// Bytes of a hash.
const OUTPUT_LEN: usize = 32;

thread_local! {
    /// Each hashing thread's Argon2 memory, kept and reused: the blocks are allocated once
    /// per thread, never per password.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Argon2 of `password` and `salt` into `out`, in this thread's reused memory.
fn compute(
    argon: &Argon2<'_>,
    blocks: usize,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Hashes a password with a fresh random salt, as a PHC string.
pub(crate) fn hash(password: &Password) -> Result<String, StoreError> {
    let params = params()?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    let secret = password.expose().to_owned();
    let hashed = HASHERS.run(move || {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; OUTPUT_LEN];
        compute(&argon, params.block_count(), secret.as_bytes(), &salt, &mut out).map(|()| out)
    })?;
    let out = hashed.map_err(|e| StoreError::Corrupt(format!("password hashing failed: {e}")))?;
    Ok(format!("$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}", B64.encode(salt), B64.encode(out)))
}

/// A stored PHC string, read.
struct Stored {
    algorithm: Algorithm,
    params: Params,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

fn parse(stored: &str) -> Option<Stored> {
    let mut parts = stored.split('$');
    let (Some(""), Some(id), Some("v=19"), Some(costs), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let algorithm = match id {
        "argon2id" => Algorithm::Argon2id,
        "argon2i" => Algorithm::Argon2i,
        "argon2d" => Algorithm::Argon2d,
        _ => return None,
    };
    let cost = |name: &str| {
        costs
            .split(',')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('='))?.parse::<u32>().ok())
    };
    let (salt, hash) = (B64.decode(salt).ok()?, B64.decode(hash).ok()?);
    let params = Params::new(cost("m")?, cost("t")?, cost("p")?, Some(hash.len())).ok()?;
    Some(Stored { algorithm, params, salt, hash })
}

/// Whether `password` matches the stored PHC string (with the parameters it was made with).
pub(crate) fn verify(password: &str, stored: &str) -> Result<bool, StoreError> {
    let Some(stored) = parse(stored) else { return Ok(false) };
    let password = password.to_owned();
    HASHERS.run(move || {
        let argon = Argon2::new(stored.algorithm, Version::V0x13, stored.params.clone());
        let mut out = vec![0u8; stored.hash.len()];
        match compute(&argon, stored.params.block_count(), password.as_bytes(), &stored.salt, &mut out) {
            // Every byte is compared, whatever the first difference.
            Ok(()) => out.iter().zip(&stored.hash).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0,
            Err(_) => false,
        }
    })
}

/// Whether a stored hash was made with other parameters than today's (it is then
/// replaced at the next successful login).
pub(crate) fn needs_rehash(stored: &str) -> bool {
    match parse(stored) {
        Some(s) => {
            s.algorithm != Algorithm::Argon2id
                || s.params.m_cost() != M_COST
                || s.params.t_cost() != T_COST
                || s.params.p_cost() != P_COST
        }
        None => true,
    }
}

/// Spends the time of one verification, so an unknown address answers as slowly as a
/// wrong password.
pub(crate) fn burn_time(password: &str) -> Result<(), StoreError> {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vdd5CJgNMh6QZrUEGIrOUXkCCeYkpXnjEvsZ5g6vQAU";
    verify(password, DUMMY).map(drop)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher as _;

    use super::*;

    fn password(text: &str) -> Password {
        Password::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_hash_verifies_its_password_and_no_other() {
        let stored = hash(&password("a long enough password")).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify("a long enough password", &stored).unwrap());
        assert!(!verify("a long enough passwort", &stored).unwrap());
        assert!(!needs_rehash(&stored));
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_itself_still_verify() {
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap());
        let stored = argon
            .hash_password_with_salt(b"made before this change", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(verify("made before this change", &stored).unwrap());
        assert!(!verify("something else", &stored).unwrap());
    }

    #[test]
    fn a_stored_value_that_is_no_phc_string_never_verifies_and_asks_for_a_rehash() {
        assert!(!verify("x", "plain text").unwrap());
        assert!(needs_rehash("$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"));
    }
}
