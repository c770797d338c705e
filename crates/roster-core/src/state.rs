//! The user lifecycle as a state machine: which action moves a user from which state to which.
//! An action not in the table is an illegal transition (a 409 naming the current state).

use crate::user::UserState;

/// An administrator's action on a user's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Activate,
    Deactivate,
    Lock,
    Unlock,
    Approve,
    /// Asks for erasure: the user goes to `offboarding` at once, and a job deletes it.
    Offboard,
    Delete,
}

impl Transition {
    pub const ALL: [Transition; 7] = [
        Transition::Activate,
        Transition::Deactivate,
        Transition::Lock,
        Transition::Unlock,
        Transition::Approve,
        Transition::Offboard,
        Transition::Delete,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Transition::Activate => "activate",
            Transition::Deactivate => "deactivate",
            Transition::Lock => "lock",
            Transition::Unlock => "unlock",
            Transition::Approve => "approve",
            Transition::Offboard => "offboard",
            Transition::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The state `self` leads to from `from`, or `None` when the transition is illegal.
    /// Doing what is already done (activating an active user) is illegal too: it would be a
    /// change without a change.
    /// The transition that makes a user in `from` active (`true`) or not (SCIM's `active`);
    /// `None` when it already is. Every state but `active` counts as not active, and an
    /// offboarding user cannot be activated (the transition returned then fails).
    pub const fn towards_active(active: bool, from: UserState) -> Option<Transition> {
        use UserState::*;
        match (active, from) {
            (true, Active)
            | (false, Initial | Pending | Inactive | Locked | Offboarding | Deleted) => None,
            (true, Pending) => Some(Transition::Approve),
            (true, Locked) => Some(Transition::Unlock),
            (true, Initial | Inactive | Offboarding | Deleted) => Some(Transition::Activate),
            (false, Active) => Some(Transition::Deactivate),
        }
    }

    pub const fn target(self, from: UserState) -> Option<UserState> {
        use Transition::*;
        use UserState::*;
        match (self, from) {
            (Activate, Initial | Inactive) => Some(Active),
            (Approve, Pending) => Some(Active),
            (Deactivate, Initial | Pending | Active | Locked) => Some(Inactive),
            (Lock, Active) => Some(Locked),
            (Unlock, Locked) => Some(Active),
            (Offboard, Initial | Pending | Active | Inactive | Locked) => Some(Offboarding),
            (Delete, Initial | Pending | Active | Inactive | Locked | Offboarding) => Some(Deleted),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, written out once more by hand: a change to the machine must change this.
    #[test]
    fn table() {
        use Transition::*;
        use UserState::*;
        let legal = [
            (Activate, Initial, Active),
            (Activate, Inactive, Active),
            (Approve, Pending, Active),
            (Deactivate, Initial, Inactive),
            (Deactivate, Pending, Inactive),
            (Deactivate, Active, Inactive),
            (Deactivate, Locked, Inactive),
            (Lock, Active, Locked),
            (Unlock, Locked, Active),
            (Offboard, Initial, Offboarding),
            (Offboard, Pending, Offboarding),
            (Offboard, Active, Offboarding),
            (Offboard, Inactive, Offboarding),
            (Offboard, Locked, Offboarding),
            (Delete, Initial, Deleted),
            (Delete, Pending, Deleted),
            (Delete, Active, Deleted),
            (Delete, Inactive, Deleted),
            (Delete, Locked, Deleted),
            (Delete, Offboarding, Deleted),
        ];
        for t in Transition::ALL {
            for from in UserState::ALL {
                let expected =
                    legal.iter().find(|(a, f, _)| *a == t && *f == from).map(|(_, _, to)| *to);
                assert_eq!(t.target(from), expected, "{} from {from}", t.name());
            }
        }
    }
}
