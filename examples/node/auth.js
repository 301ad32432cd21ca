#!/usr/bin/env node
// Drives every RPC of trackwire.v1.AuthService from Node.js.
//
// On a server with authentication (`trackwire server --auth`), run it with an
// admin's token in $TRACKWIRE_TOKEN (the one the server printed at its first
// start, or `trackwire users create NAME --admin`): it makes a user, signs in
// as them, makes and revokes an API token, puts the user in a team, grants the
// team EDIT on an experiment and checks what the user may then do, and
// deletes it all again. On a server without --auth, WhoAmI says so and every
// other RPC answers FAILED_PRECONDITION, which is what it checks there.
//
// Usage: TRACKWIRE_TOKEN=tw_... node auth.js HOST:PORT
//
// Prints `OK auth <n> RPCs (auth on|off)`; exits 1 on any unexpected answer.
'use strict';

const crypto = require('node:crypto');
const { connect, unary, expectStatus, check, status, runMain } = require('./lib');

// Every AuthService RPC with a request, for a server without --auth.
const WITHOUT_AUTH = [
  ['SignIn', { user_name: 'nobody', password: 'not checked' }],
  ['CreateUser', { name: 'nobody', password: 'not checked' }],
  ['GetUser', { name: 'nobody' }],
  ['ListUsers', {}],
  ['UpdateUser', { name: 'nobody', disabled: true }],
  ['DeleteUser', { name: 'nobody' }],
  ['CreateApiToken', {}],
  ['ListApiTokens', {}],
  ['RevokeApiToken', { token_id: '1' }],
  ['CreateTeam', { name: 'nobody' }],
  ['GetTeam', { name: 'nobody' }],
  ['ListTeams', {}],
  ['DeleteTeam', { name: 'nobody' }],
  ['AddTeamMember', { team_name: 'nobody', user_name: 'nobody' }],
  ['RemoveTeamMember', { team_name: 'nobody', user_name: 'nobody' }],
  ['SetPermission', {
    grant: { resource: { experiment_id: '0' }, principal: { user_name: 'nobody' }, level: 'PERMISSION_LEVEL_READ' },
  }],
  ['DeletePermission', { resource: { experiment_id: '0' }, principal: { user_name: 'nobody' } }],
  ['ListPermissions', { resource: { experiment_id: '0' } }],
  ['GetEffectivePermission', { resource: { experiment_id: '0' } }],
];

// `target` is where `clients` point (to connect as the new user too);
// `experimentId` and `modelName` name resources to grant access to.
async function exercise(clients, target, experimentId, modelName) {
  const { auth } = clients;
  const called = new Set();
  const call = (method, request) => {
    called.add(method);
    return unary(auth, method, request);
  };

  const who = await call('WhoAmI', {});
  if (!who.auth_enabled) {
    check(who.user === null, 'WhoAmI names a user on a server without --auth');
    for (const [method, request] of WITHOUT_AUTH) {
      await expectStatus(call(method, request), status.FAILED_PRECONDITION);
    }
    return { rpcs: [...called].sort(), authEnabled: false };
  }
  check(who.user && who.user.admin, 'run auth.js with an admin\'s token in $TRACKWIRE_TOKEN');

  // -- users -------------------------------------------------------------------
  const suffix = `${Date.now()}-${crypto.randomBytes(3).toString('hex')}`;
  const name = `node-user-${suffix}`;
  await call('CreateUser', { name, password: 'first password' });
  await expectStatus(call('CreateUser', { name, password: 'first password' }), status.ALREADY_EXISTS);
  await expectStatus(call('CreateUser', { name: `${name}-2`, password: 'short' }), status.INVALID_ARGUMENT, 'password');
  const got = (await call('GetUser', { name })).user;
  check(got.name === name && !got.admin, `GetUser gave ${JSON.stringify(got)}`);
  const { users } = await call('ListUsers', { page_size: 1000 });
  check(users.some((u) => u.name === name), 'ListUsers leaves out the new user');
  await call('UpdateUser', { name, password: 'second password' });

  // -- signing in, as the new user -----------------------------------------------
  await expectStatus(call('SignIn', { user_name: name, password: 'first password' }), status.UNAUTHENTICATED);
  const signedIn = await call('SignIn', {
    user_name: name, password: 'second password', ttl_seconds: 600, description: 'node example',
  });
  check(signedIn.secret.startsWith('tw_'), 'SignIn gave no token');
  const theirs = connect(target, signedIn.secret);
  try {
    const me = await unary(theirs.auth, 'WhoAmI', {});
    check(me.user.name === name, `WhoAmI with the sign-in token: ${me.user.name}`);
    await expectStatus(unary(theirs.auth, 'ListUsers', {}), status.PERMISSION_DENIED);

    // -- API tokens --------------------------------------------------------------
    const made = await call('CreateApiToken', { user_name: name, description: 'from node' });
    check(made.secret.startsWith(made.token.prefix), 'the token\'s prefix is not its secret\'s');
    const { tokens } = await call('ListApiTokens', { user_name: name });
    check(tokens.length === 2, `ListApiTokens: ${tokens.length} tokens`); // sign-in + API
    const revoked = (await call('RevokeApiToken', { token_id: made.token.token_id })).token;
    check(revoked.revoke_time !== null, 'RevokeApiToken left no revoke_time');

    // -- teams -------------------------------------------------------------------
    const team = `node-team-${suffix}`;
    await call('CreateTeam', { name: team });
    const joined = (await call('AddTeamMember', { team_name: team, user_name: name })).team;
    check(joined.member_names.join() === name, `AddTeamMember: ${joined.member_names}`);
    check((await call('GetTeam', { name: team })).team.name === team, 'GetTeam');
    check((await call('ListTeams', {})).teams.some((t) => t.name === team), 'ListTeams');

    // -- grants ------------------------------------------------------------------
    const resource = { experiment_id: experimentId };
    const principal = { team_name: team };
    await call('SetPermission', { grant: { resource, principal, level: 'PERMISSION_LEVEL_EDIT' } });
    const theirLevel = (await unary(theirs.auth, 'GetEffectivePermission', { resource })).level;
    check(theirLevel === 'PERMISSION_LEVEL_EDIT', `the team member has ${theirLevel}`);
    const mine = (await call('GetEffectivePermission', { resource: { registered_model_name: modelName } })).level;
    check(mine === 'PERMISSION_LEVEL_MANAGE', `an admin has ${mine} on the model`);
    const { grants } = await call('ListPermissions', { resource });
    check(grants.some((g) => g.principal.team_name === team && g.level === 'PERMISSION_LEVEL_EDIT'),
      `ListPermissions: ${JSON.stringify(grants)}`);
    await call('DeletePermission', { resource, principal });
    await expectStatus(call('DeletePermission', { resource, principal }), status.NOT_FOUND);

    // -- and away again ----------------------------------------------------------------
    await call('RemoveTeamMember', { team_name: team, user_name: name });
    await call('DeleteTeam', { name: team });
    await call('DeleteUser', { name });
    await expectStatus(unary(theirs.auth, 'WhoAmI', {}), status.UNAUTHENTICATED);
  } finally {
    theirs.close();
  }
  return { rpcs: [...called].sort(), authEnabled: true };
}

async function main(target) {
  const clients = connect(target);
  try {
    const suffix = `${Date.now()}-${crypto.randomBytes(3).toString('hex')}`;
    let experimentId = '0';
    let modelName = '';
    const who = await unary(clients.auth, 'WhoAmI', {});
    if (who.auth_enabled) {
      experimentId = (await unary(clients.tracking, 'CreateExperiment', { name: `node-auth-${suffix}` }))
        .experiment.experiment_id;
      modelName = (await unary(clients.registry, 'CreateRegisteredModel', { name: `node-auth-${suffix}` }))
        .registered_model.name;
    }
    const result = await exercise(clients, target, experimentId, modelName);
    console.log(`OK auth ${result.rpcs.length} RPCs (auth ${result.authEnabled ? 'on' : 'off'})`);
  } finally {
    clients.close();
  }
}

module.exports = { exercise };

if (require.main === module) runMain(main, 'TRACKWIRE_TOKEN=tw_... node auth.js');
