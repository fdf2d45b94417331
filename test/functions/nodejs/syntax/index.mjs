// syntax does not parse.
export const handler = async (event => {
  return event;
};
