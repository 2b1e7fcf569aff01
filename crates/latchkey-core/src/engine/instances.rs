//! The instances Latchkey knows and, for each, what talks to it: the
//! Frontend API client (with the client credential), the sign-in flows, the
//! JWT verifier, the client as last read, and the environment.
//!
//! Every Frontend API call of the engine goes through [`Engine::call`]: the
//! call, then the keychain write if the answer rotated the client
//! credential, in that order.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Engine;
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::fapi::Fapi;
use crate::flows::SignInFlows;
use crate::instance::{Instance, InstanceKind};
use crate::jwt::Verifier;
use crate::models::{Client, Environment};
use crate::secret::ClientCredential;

/// One instance and what talks to it.
pub(super) struct InstanceState {
    pub instance: Instance,
    pub fapi: Fapi,
    pub flows: Arc<SignInFlows>,
    pub verifier: Arc<Verifier>,
    /// The client as last read from Clerk (`None` before the first read, or
    /// when there is no client for the credential).
    pub client: Option<Client>,
    /// Read once, on demand (not needed on the token path).
    pub environment: Option<Environment>,
}

/// What this module owns: every instance, by id.
#[derive(Default)]
pub(super) struct Instances(tokio::sync::Mutex<BTreeMap<String, InstanceState>>);

impl Instances {
    pub(super) async fn lock(
        &self,
    ) -> tokio::sync::MutexGuard<'_, BTreeMap<String, InstanceState>> {
        self.0.lock().await
    }
}

/// A Frontend API client, the flows and the verifier for `instance`, all
/// sharing one HTTP client.
fn connect(
    instance: &Instance,
    credential: Option<ClientCredential>,
    clock: &Arc<dyn Clock>,
) -> Result<InstanceState> {
    let fapi = Fapi::new(instance.clone(), credential)?.with_clock(clock.clone());
    Ok(InstanceState {
        instance: instance.clone(),
        flows: Arc::new(SignInFlows::new(fapi.clone())),
        verifier: Arc::new(Verifier::with_http(instance.clone(), fapi.http_client())),
        fapi,
        client: None,
        environment: None,
    })
}

impl Engine {
    /// Installs an instance with its stored credential (or none).
    pub(super) async fn install(
        &self,
        instance: Instance,
        credential: Option<ClientCredential>,
    ) -> Result<()> {
        let state = connect(&instance, credential, &self.s.cfg.clock)?;
        self.s
            .instances
            .lock()
            .await
            .insert(instance.id().to_owned(), state);
        Ok(())
    }

    /// Adds an instance (or updates the URL of a known one: the demo
    /// instance may change port) and remembers it in the index.
    ///
    /// # Errors
    /// A storage kind when the index cannot be written.
    pub async fn add_instance(&self, instance: Instance) -> Result<()> {
        let id = instance.id().to_owned();
        {
            let mut inst = self.s.instances.lock().await;
            match inst.get_mut(&id) {
                // Known and unchanged: nothing to write (a keychain write
                // costs milliseconds on every CLI call).
                Some(existing) if existing.instance == instance => return Ok(()),
                Some(existing) => {
                    let mut moved =
                        connect(&instance, existing.fapi.credential(), &self.s.cfg.clock)?;
                    moved.client = existing.client.take();
                    moved.environment = existing.environment.take();
                    *existing = moved;
                }
                None => {
                    inst.insert(id.clone(), connect(&instance, None, &self.s.cfg.clock)?);
                    self.track_new_instance(&id);
                }
            }
        }
        self.save_index().await.map_err(Error::from)
    }

    /// Known instances.
    pub async fn instances(&self) -> Vec<Instance> {
        self.s
            .instances
            .lock()
            .await
            .values()
            .map(|i| i.instance.clone())
            .collect()
    }

    /// Reads something from one instance's state.
    pub(super) async fn with_instance<T>(
        &self,
        instance_id: &str,
        f: impl FnOnce(&InstanceState) -> T,
    ) -> Result<T> {
        self.s
            .instances
            .lock()
            .await
            .get(instance_id)
            .map(f)
            .ok_or_else(|| Error::new(ErrorKind::Config, "unknown instance"))
    }

    pub(super) async fn fapi(&self, instance_id: &str) -> Result<Fapi> {
        self.with_instance(instance_id, |i| i.fapi.clone()).await
    }

    /// Calls the instance's Frontend API with `f`, then saves the client
    /// credential if the answer rotated it (before returning, so what the
    /// caller does next — and a crash — finds it saved).
    pub(super) async fn call<T>(
        &self,
        instance_id: &str,
        f: impl AsyncFnOnce(&Fapi) -> Result<T>,
    ) -> Result<T> {
        let fapi = self.fapi(instance_id).await?;
        let before = fapi.credential_version();
        let r = f(&fapi).await;
        if fapi.credential_version() != before {
            self.save_credential(instance_id).await;
        }
        r
    }

    /// True when the local demo instance should run: nothing else is
    /// configured, or it is one of the instances.
    pub async fn needs_local_demo(&self) -> bool {
        let instances = self.instances().await;
        instances.is_empty()
            || instances
                .iter()
                .any(|i| i.kind() == InstanceKind::LocalDemo)
    }

    /// The instance's environment (application name, social providers,
    /// single-session mode), read once and cached: it is not needed on the
    /// token path, so nothing reads it until asked.
    ///
    /// # Errors
    /// Transport and protocol kinds when Clerk cannot be read.
    pub async fn load_environment(&self, instance_id: &str) -> Result<Environment> {
        if let Some(e) = self.environment(instance_id).await {
            return Ok(e);
        }
        let e = self
            .call(instance_id, async |f| f.environment().await)
            .await?;
        if let Some(i) = self.s.instances.lock().await.get_mut(instance_id) {
            i.environment = Some(e.clone());
        }
        Ok(e)
    }

    /// The instance's environment, once read.
    pub async fn environment(&self, instance_id: &str) -> Option<Environment> {
        self.s
            .instances
            .lock()
            .await
            .get(instance_id)
            .and_then(|i| i.environment.clone())
    }
}
