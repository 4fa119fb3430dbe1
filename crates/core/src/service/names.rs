//! Finding the user a typed name means: the rules are in
//! [`crate::username`]; this is the one store lookup every login path
//! (native, legacy, Single Connect, Capillary, the CLI) makes with them.

use crate::error::AuthError;
use crate::model::User;
use crate::service::AuthService;
use crate::username;

impl AuthService {
    /// The user `raw` names, with the key its throttles count under (the
    /// name found, or the canonical name when nobody is found).
    ///
    /// The canonical form ([`username::normalize`]) is looked up first. A
    /// user created before the TR 39 rules keeps logging in by the name it
    /// was stored under ([`username::earlier_form`]), even one the rules
    /// would now refuse; a name that breaks the rules and names nobody is
    /// [`AuthError::InvalidUsername`].
    pub(crate) async fn find_user(&self, raw: &str) -> Result<(String, Option<User>), AuthError> {
        let name = username::normalize(raw);
        if name.chars().count() > username::MAX_LEN {
            return Err(AuthError::InvalidUsername(format!(
                "username must be 1 to {} characters",
                username::MAX_LEN
            )));
        }
        let refused = username::check(&name).err();
        if refused.is_none()
            && let Some(user) = self.store.user_by_name(&name).await?
        {
            return Ok((name, Some(user)));
        }
        let earlier = username::earlier_form(raw);
        if (earlier != name || refused.is_some())
            && !earlier.is_empty()
            && let Some(user) = self.store.user_by_name(&earlier).await?
        {
            return Ok((earlier, Some(user)));
        }
        match refused {
            Some(e) => Err(e),
            None => Ok((name, None)),
        }
    }
}
